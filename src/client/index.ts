/** client: typed Client over a Transport, informers. */
export type {
  Transport,
  ListOptions,
  WriteOptions,
  PatchType,
  ResourceClient,
  ResourceRef,
} from "./types.js";
export { Client, PodClient, TypedResourceClient, REFS, type LogOptions } from "./client.js";
export { HttpTransport, type HttpTransportOptions } from "./http-transport.js";
export { HandlerTransport, errorFromResponse, type ApiHandler } from "./handler-transport.js";
export {
  Informer,
  type InformerEvent,
  type InformerEventType,
  type InformerOptions,
} from "./informer.js";
export {
  EventRecorder,
  EVENT_AGGREGATION_WINDOW_MS,
  type EventRecorderOptions,
  type EventType,
} from "./event-recorder.js";
export { PATCH_CONTENT_TYPES, resourcePath } from "./paths.js";
export { FakeApiHandler } from "./testing/fake-handler.js";
