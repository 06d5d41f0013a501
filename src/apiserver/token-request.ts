import {
  ApiError,
  badRequest,
  invalid,
  rfc3339,
  type FieldError,
  type KubeObject,
} from "../api/index.js";
import { isRecord } from "./objects.js";
import {
  JwtSigner,
  SERVICE_ACCOUNT_ISSUER,
  serviceAccountUsername,
  type KubernetesClaim,
} from "./tokens.js";

/** Default `spec.expirationSeconds` of a TokenRequest (upstream: one hour). */
export const DEFAULT_TOKEN_EXPIRATION_SECONDS = 3600;
/** Smallest `spec.expirationSeconds` upstream accepts (ten minutes). */
export const MIN_TOKEN_EXPIRATION_SECONDS = 600;
/** Largest `spec.expirationSeconds` upstream accepts (2^32 seconds). */
export const MAX_TOKEN_EXPIRATION_SECONDS = 2 ** 32;

/** authentication.k8s.io/v1 BoundObjectReference. */
export interface BoundObjectReference {
  kind?: string;
  apiVersion?: string;
  name?: string;
  uid?: string;
}

/** authentication.k8s.io/v1 TokenRequest as served. */
export interface TokenRequest extends KubeObject {
  spec: { audiences: string[]; expirationSeconds: number; boundObjectRef?: BoundObjectReference };
  status: { token: string; expirationTimestamp: string };
}

/** Reads the objects a TokenRequest refers to; undefined when missing. */
export interface TokenRequestLookup {
  serviceAccount(ns: string, name: string): Promise<KubeObject | undefined>;
  pod(ns: string, name: string): Promise<KubeObject | undefined>;
  secret(ns: string, name: string): Promise<KubeObject | undefined>;
}

function field(type: FieldError["type"], path: string, value: unknown, detail: string): FieldError {
  return { type, field: path, value, detail };
}

function parseSpec(body: unknown): {
  audiences: string[];
  expirationSeconds: number;
  boundObjectRef: BoundObjectReference | undefined;
  errs: FieldError[];
} {
  if (!isRecord(body)) throw badRequest("the body of the request must be a TokenRequest object");
  const kind = body["kind"];
  if (typeof kind === "string" && kind !== "" && kind !== "TokenRequest") {
    throw badRequest(`${kind} is not a TokenRequest`);
  }
  const spec = isRecord(body["spec"]) ? body["spec"] : {};
  const errs: FieldError[] = [];
  const audRaw = spec["audiences"];
  const audiences = Array.isArray(audRaw)
    ? audRaw.filter((a): a is string => typeof a === "string")
    : [];
  const expRaw = spec["expirationSeconds"];
  let expirationSeconds = DEFAULT_TOKEN_EXPIRATION_SECONDS;
  if (typeof expRaw === "number") expirationSeconds = expRaw;
  else if (expRaw !== undefined && expRaw !== null) {
    errs.push(field("Invalid", "spec.expirationSeconds", expRaw, "must be an integer"));
  }
  if (expirationSeconds < MIN_TOKEN_EXPIRATION_SECONDS) {
    errs.push(
      field(
        "Invalid",
        "spec.expirationSeconds",
        expirationSeconds,
        "may not specify a duration less than 10 minutes",
      ),
    );
  }
  if (expirationSeconds > MAX_TOKEN_EXPIRATION_SECONDS) {
    errs.push(
      field(
        "TooLong",
        "spec.expirationSeconds",
        expirationSeconds,
        "may not specify a duration larger than 2^32 seconds",
      ),
    );
  }
  let boundObjectRef: BoundObjectReference | undefined;
  if (isRecord(spec["boundObjectRef"])) {
    const r = spec["boundObjectRef"];
    boundObjectRef = {};
    for (const k of ["kind", "apiVersion", "name", "uid"] as const) {
      const v = r[k];
      if (typeof v === "string" && v !== "") boundObjectRef[k] = v;
    }
  }
  return { audiences, expirationSeconds, boundObjectRef, errs };
}

/**
 * Serves `POST serviceaccounts/<name>/token` (authentication.k8s.io/v1 TokenRequest): checks the
 * ServiceAccount and the bound object exist (NotFound / Invalid with upstream wording), signs a
 * JWT bound to them and answers the TokenRequest with `status.token` and
 * `status.expirationTimestamp`. Stateless; safe for concurrent use.
 */
export class TokenRequestHandler {
  readonly #signer: JwtSigner;

  constructor(opts: { privateKeyPem: string }) {
    this.#signer = new JwtSigner(opts.privateKeyPem);
  }

  /** Issues a token for `ns/saName` as of `nowMs`. Throws ApiError. */
  async create(
    ns: string,
    saName: string,
    body: unknown,
    lookup: TokenRequestLookup,
    nowMs: number,
  ): Promise<TokenRequest> {
    const sa = await lookup.serviceAccount(ns, saName);
    if (sa === undefined) {
      throw new ApiError("NotFound", `serviceaccounts "${saName}" not found`, {
        name: saName,
        kind: "serviceaccounts",
        group: "",
      });
    }
    const spec = parseSpec(body);
    const claim: KubernetesClaim = {
      namespace: ns,
      serviceaccount: { name: saName, uid: sa.metadata.uid ?? "" },
    };
    const ref = spec.boundObjectRef;
    if (ref !== undefined) {
      const kind = ref.kind ?? "";
      const name = ref.name ?? "";
      if (kind !== "Pod" && kind !== "Secret") {
        spec.errs.push(
          field(
            "NotSupported",
            "spec.boundObjectRef.kind",
            kind,
            'supported values: "Pod", "Secret"',
          ),
        );
      } else if (name === "") {
        spec.errs.push(field("Required", "spec.boundObjectRef.name", "", ""));
      }
      if (spec.errs.length === 0) {
        const obj = kind === "Pod" ? await lookup.pod(ns, name) : await lookup.secret(ns, name);
        const resource = kind === "Pod" ? "pods" : "secrets";
        if (obj === undefined) {
          throw new ApiError("NotFound", `${resource} "${name}" not found`, {
            name,
            kind: resource,
            group: "",
          });
        }
        const uid = obj.metadata.uid ?? "";
        if (ref.uid !== undefined && ref.uid !== uid) {
          throw new ApiError(
            "Conflict",
            `Operation cannot be fulfilled on ${resource} "${name}": the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
            { name, kind: resource, group: "" },
          );
        }
        ref.uid = uid;
        ref.apiVersion ??= "v1";
        if (kind === "Pod") {
          claim.pod = { name, uid };
        } else {
          claim.secret = { name, uid };
        }
      }
    }
    if (spec.errs.length > 0) {
      throw invalid("TokenRequest", saName, spec.errs, "authentication.k8s.io");
    }
    const audiences = spec.audiences.length > 0 ? spec.audiences : [SERVICE_ACCOUNT_ISSUER];
    const nowS = Math.floor(nowMs / 1000);
    const exp = nowS + spec.expirationSeconds;
    const token = this.#signer.sign({
      aud: audiences,
      exp,
      iat: nowS,
      iss: SERVICE_ACCOUNT_ISSUER,
      jti: crypto.randomUUID(),
      "kubernetes.io": claim,
      nbf: nowS,
      sub: serviceAccountUsername(ns, saName),
    });
    return {
      kind: "TokenRequest",
      apiVersion: "authentication.k8s.io/v1",
      metadata: { name: saName, namespace: ns, creationTimestamp: null as unknown as string },
      spec: {
        audiences,
        expirationSeconds: spec.expirationSeconds,
        ...(ref === undefined ? {} : { boundObjectRef: ref }),
      },
      status: { token, expirationTimestamp: rfc3339(exp * 1000) },
    };
  }
}
