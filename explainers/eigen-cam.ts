// Eigen-CAM. Muhammad, Yeasin, "Eigen-CAM: Class Activation Map using Principal
// Components", IJCNN 2020. Eq. 6: L = A V_1, the activations (positions x
// channels, centered per channel as pytorch-grad-cam's get_2d_projection does)
// projected on their first right singular vector. No gradients, no target: the
// map shows the dominant feature of the layer, whatever the class.
//
// The projection is the base's project2d: on the GPU, V_1 is the top
// eigenvector of the C x C matrix X^T X (the channel covariance up to a factor),
// found by power iteration with engine matmuls (repeated squaring of the
// normalized matrix, M <- M M / |M M|_F, then M applied to a fixed vector).
//
// Sign: an SVD defines V_1 only up to sign. pytorch-grad-cam takes whatever
// sign torch.linalg.svd (LAPACK gesdd) returns and does not fix it, so its
// map can come out as the complement of the evidence ("otherwise the image
// returned is negative", its comment on centering). We fix the sign: the
// projection is made to correlate positively with the plain channel sum of the
// activations, i.e. with where the layer fires, which is the outcome
// pytorch-grad-cam's centering aims at.

import { project2d } from './cam-math.js';
import type { CamMethod } from './method.js';

export const eigenCam: CamMethod = {
  name: 'eigencam',
  title: 'Eigen-CAM',
  paper: 'Muhammad & Yeasin, Eigen-CAM, IJCNN 2020, eq. 6 (projection on the first principal component)',
  usesGradients: false,
  inputSpace: false,
  camImage: (layer) => project2d(layer.activations),
};
