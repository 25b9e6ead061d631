// jpeg-js's decoder alone (the package's index also loads its encoder, which the page never uses).
declare module 'jpeg-js/lib/decoder.js' {
  import type { decode } from 'jpeg-js';
  const decodeJpeg: typeof decode;
  export default decodeJpeg;
}
