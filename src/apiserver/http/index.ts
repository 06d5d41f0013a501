/** apiserver/http: the HTTPS adapter, authentication, PKI, OpenAPI documents and protobuf bodies. */
export {
  HttpsApiServer,
  decodeQuery,
  type ApiHandler,
  type HttpsApiServerOptions,
  type ServingTls,
  type UpgradeHandler,
} from "./server.js";
export {
  RequestAuthenticator,
  StaticTokenVerifier,
  ServiceAccountTokenVerifier,
  ANONYMOUS_USER,
  isPublicPath,
  type Authenticator,
  type AuthRequest,
  type AuthResult,
  type TokenVerifier,
  type ServiceAccountTokenLookup,
  type ServiceAccountTokenVerifierOptions,
} from "./auth.js";
export {
  ensurePki,
  ensureServiceAccountKey,
  writeKubeconfig,
  kubeconfigYaml,
  certificateNames,
  DEFAULT_SERVING_NAMES,
  type Pki,
  type ServiceAccountKeyPair,
  type EnsurePkiOptions,
  type KubeconfigOptions,
} from "./pki.js";
export {
  decodeBody,
  mediaTypeOf,
  MAX_BODY_BYTES,
  MAX_BODY_DEPTH,
  type DecodedBody,
} from "./body.js";
export { serveOpenApi, openApiIndex } from "./openapi.js";
export { decodeProtobufObject, PROTOBUF_CONTENT_TYPE } from "./protobuf.js";
