// WGSL files are imported as strings (vitest plugin and esbuild's text loader).
declare module '*.wgsl' {
  const source: string;
  export default source;
}
