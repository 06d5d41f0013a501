import protobuf from "protobufjs";
import { ApiError } from "../../api/index.js";
import { EMBEDDED_FIELDS, K8S_PROTO, PROTO_KINDS } from "./k8s-proto.js";

/** The Kubernetes protobuf media type (KA-PB-1). */
export const PROTOBUF_CONTENT_TYPE = "application/vnd.kubernetes.protobuf";

/** The 4-byte prefix of every Kubernetes protobuf body: `k8s\0` (KA-PB-2). */
export const PROTOBUF_MAGIC = Uint8Array.from([0x6b, 0x38, 0x73, 0x00]);

let root: protobuf.Root | undefined;

/** The parsed schema subset (parsed once, on first use). */
export function protoRoot(): protobuf.Root {
  root ??= protobuf.parse(K8S_PROTO, { keepCase: true }).root;
  return root;
}

function unsupported(what: string): ApiError {
  return new ApiError(
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (protobuf is not supported for ${what})`,
  );
}

/** Go's zero time (0001-01-01T00:00:00Z) in Unix seconds; gogo writes it for unset times. */
const GO_ZERO_TIME_SECONDS = -62135596800;

type Json = Record<string, unknown>;

/** Non-pointer Go integers whose zero value JSON omits. */
const ZERO_OMITTED = new Set([
  "generation",
  "hostPort",
  "nodePort",
  "healthCheckNodePort",
  "minReadySeconds",
]);

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Converts a decoded message (protobufjs `toObject` shape) to its Kubernetes JSON form: times
 * to RFC 3339, IntOrString to a number or string, Quantity to its string, FieldsV1 to JSON,
 * embedded structs inlined, and empty strings/false dropped as Go's `omitempty` would.
 */
function toJson(type: protobuf.Type, value: Json): Json | string | number | undefined {
  switch (type.name) {
    case "Time": {
      const seconds = Number(value["seconds"] ?? 0);
      const nanos = Number(value["nanos"] ?? 0);
      if ((seconds === 0 && nanos === 0) || seconds === GO_ZERO_TIME_SECONDS) return undefined;
      return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
    }
    case "IntOrString":
      return Number(value["type"] ?? 0) === 1
        ? typeof value["strVal"] === "string"
          ? value["strVal"]
          : ""
        : Number(value["intVal"] ?? 0);
    case "Quantity":
      return typeof value["string"] === "string" ? value["string"] : undefined;
    case "FieldsV1": {
      const raw = value["Raw"];
      if (typeof raw !== "string" || raw === "") return {};
      try {
        return JSON.parse(Buffer.from(raw, "base64").toString("utf8")) as Json;
      } catch (err) {
        throw new ApiError("BadRequest", "managedFields: invalid fieldsV1 JSON", undefined, {
          cause: err,
        });
      }
    }
  }
  const out: Json = {};
  for (const field of type.fieldsArray) {
    const v = value[field.name];
    if (v === undefined || v === null) continue;
    const converted = convertField(field, v);
    if (converted === undefined) continue;
    if (EMBEDDED_FIELDS.has(field.name) && isObject(converted)) Object.assign(out, converted);
    else out[field.name] = converted;
  }
  return out;
}

function convertField(field: protobuf.Field, v: unknown): unknown {
  const sub = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
  const one = (x: unknown): unknown => (sub !== undefined && isObject(x) ? toJson(sub, x) : x);
  if (field instanceof protobuf.MapField) {
    if (!isObject(v)) return undefined;
    const entries = Object.entries(v).map(([k, x]) => [k, one(x)] as const);
    return entries.length === 0 ? undefined : Object.fromEntries(entries);
  }
  if (field.repeated) {
    if (!Array.isArray(v) || v.length === 0) return undefined;
    return v.map(one);
  }
  if (v === "" || v === false || (v === 0 && ZERO_OMITTED.has(field.name))) return undefined;
  return one(v);
}

/**
 * Decodes a Kubernetes protobuf body (KA-PB-2: `k8s\0` + runtime.Unknown{typeMeta, raw}) into
 * the equivalent JSON object with `apiVersion` and `kind` set. Supported kinds: ConfigMap,
 * Secret, Namespace, ServiceAccount, Service, Pod (common fields), apps/v1 Deployment,
 * SelfSubjectAccessReview, SelfSubjectRulesReview and authentication.k8s.io/v1 TokenRequest. Other kinds throw ApiError
 * "UnsupportedMediaType"; malformed bytes throw "BadRequest".
 */
export function decodeProtobufObject(raw: Uint8Array): Json {
  if (raw.length < 4 || !PROTOBUF_MAGIC.every((b, i) => raw[i] === b)) {
    throw new ApiError(
      "BadRequest",
      "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]",
    );
  }
  const r = protoRoot();
  const unknownType = r.lookupType("k8s.Unknown");
  let envelope: Json;
  try {
    envelope = unknownType.toObject(unknownType.decode(raw.subarray(4)), {
      longs: Number,
      bytes: Array,
    });
  } catch (err) {
    throw new ApiError("BadRequest", "unable to decode protobuf envelope", undefined, {
      cause: err,
    });
  }
  const typeMeta = isObject(envelope["typeMeta"]) ? envelope["typeMeta"] : {};
  const apiVersion = typeof typeMeta["apiVersion"] === "string" ? typeMeta["apiVersion"] : "";
  const kind = typeof typeMeta["kind"] === "string" ? typeMeta["kind"] : "";
  const messageName = PROTO_KINDS[`${apiVersion}/${kind}`];
  if (messageName === undefined) throw unsupported(`${apiVersion}, Kind=${kind}`);
  const type = r.lookupType(`k8s.${messageName}`);
  const rawBytes = Array.isArray(envelope["raw"])
    ? Uint8Array.from(envelope["raw"] as number[])
    : new Uint8Array();
  let decoded: Json;
  try {
    decoded = type.toObject(type.decode(rawBytes), { longs: Number, bytes: String });
  } catch (err) {
    throw new ApiError("BadRequest", `unable to decode protobuf ${kind}`, undefined, {
      cause: err,
    });
  }
  const body = toJson(type, decoded);
  return { apiVersion, kind, ...(isObject(body) ? body : {}) };
}
