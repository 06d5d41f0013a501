/** apiserver/streaming: exec, attach and port-forward over websocket channels and SPDY/3.1. */
export {
  createStreamingUpgradeHandler,
  type StreamingOptions,
  type StreamingUpgradeHandler,
} from "./handler.js";
export type {
  AttachRequest,
  ExecRequest,
  PortForwardRequest,
  StreamBackend,
  StreamFlags,
  StreamSession,
} from "./types.js";
export { parseStreamRequest, type StreamTarget, type StreamVerb } from "./request.js";
export { exitStatus, failureStatus, type ExecStatus } from "./status.js";
export {
  SpdyConnection,
  SpdyStream,
  type ByteTransport,
  type SpdyConnectionOptions,
} from "./spdy-connection.js";
export { SPDY3_DICTIONARY } from "./spdy-dictionary.js";
