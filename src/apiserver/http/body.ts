import { parse as parseYaml } from "yaml";
import { ApiError } from "../../api/index.js";
import { markPrivateBody } from "../objects.js";
import { decodeProtobufObject, PROTOBUF_CONTENT_TYPE } from "./protobuf.js";

/** Largest request body accepted, as upstream's 3 MiB limit. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

/** Deepest object/array nesting accepted in a request body. */
export const MAX_BODY_DEPTH = 100;

/** A decoded request body: parsed JSON-equivalent value, or raw bytes for unknown types. */
export interface DecodedBody {
  body?: unknown;
  rawBody?: Uint8Array;
  /** Media type (no parameters) the handler should treat the body as. */
  contentType: string;
}

/** The media type of a Content-Type header, lower-cased and without parameters. */
export function mediaTypeOf(header: string | undefined): string {
  return (header ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/** 413 for a body over the limit (upstream wording). */
export function tooLarge(limitBytes: number): ApiError {
  return new ApiError("RequestEntityTooLarge", `Request entity too large: limit is ${limitBytes}`);
}

const JSON_TYPES = new Set([
  "",
  "application/json",
  "application/merge-patch+json",
  "application/json-patch+json",
  "application/strategic-merge-patch+json",
  "*/*",
]);
const YAML_TYPES = new Set(["application/apply-patch+yaml", "application/yaml"]);

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeText(raw: Uint8Array): string {
  try {
    return utf8.decode(raw);
  } catch (err) {
    throw new ApiError("BadRequest", "the request body is not valid UTF-8", undefined, {
      cause: err,
    });
  }
}

/**
 * Throws when JSON text nests objects/arrays deeper than `max`; scans without parsing so a
 * hostile body cannot exhaust the parser's stack.
 */
function checkJsonDepth(text: string, max: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) throw tooDeep(max);
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
}

function tooDeep(max: number): ApiError {
  return new ApiError("BadRequest", `json: exceeded max depth of ${max}`);
}

function checkValueDepth(v: unknown, max: number, depth = 0): void {
  if (typeof v !== "object" || v === null) return;
  if (depth + 1 > max) throw tooDeep(max);
  for (const x of Array.isArray(v) ? v : Object.values(v)) checkValueDepth(x, max, depth + 1);
}

/**
 * Decodes a request body by Content-Type: JSON (also when the type is missing, KA-HTTP-4),
 * YAML for apply patches (KA-SSA-2), Kubernetes protobuf (KA-PB-1) into the equivalent JSON
 * object; other types are passed through as `rawBody`. Malformed input, invalid UTF-8 and
 * nesting deeper than `maxDepth` throw ApiError "BadRequest".
 */
export function decodeBody(
  raw: Uint8Array,
  contentTypeHeader: string | undefined,
  opts: { isPatch: boolean; maxDepth?: number },
): DecodedBody {
  const mediaType = mediaTypeOf(contentTypeHeader);
  const maxDepth = opts.maxDepth ?? MAX_BODY_DEPTH;
  if (raw.length === 0) return { contentType: mediaType || "application/json" };
  if (JSON_TYPES.has(mediaType)) {
    const text = decodeText(raw);
    checkJsonDepth(text, maxDepth);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      const prefix = opts.isPatch
        ? "error decoding patch"
        : "couldn't get version/kind; json parse error";
      throw new ApiError("BadRequest", `${prefix}: ${detail}`, undefined, { cause: err });
    }
    // Fresh from the parser and held by this request alone: a create may use it in place.
    markPrivateBody(body);
    return { body, contentType: mediaType || "application/json" };
  }
  if (YAML_TYPES.has(mediaType)) {
    const text = decodeText(raw);
    // kubectl sends JSON text here (KA-SSA-2); scan that before parsing. Real YAML can hide
    // brackets in unquoted scalars, so it is checked after parsing instead.
    if (/^\s*[[{]/.test(text)) checkJsonDepth(text, maxDepth);
    let body: unknown;
    try {
      body = parseYaml(text, { maxAliasCount: 100 });
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      throw new ApiError("BadRequest", `error decoding YAML: ${detail}`, undefined, { cause: err });
    }
    checkValueDepth(body, maxDepth);
    return { body, contentType: mediaType };
  }
  if (mediaType === PROTOBUF_CONTENT_TYPE) {
    const body = decodeProtobufObject(raw);
    checkValueDepth(body, maxDepth);
    return { body, contentType: "application/json" };
  }
  return { rawBody: raw, contentType: mediaType };
}
