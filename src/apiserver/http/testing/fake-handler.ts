import type { ApiRequest, ApiResponse, WatchEvent } from "../../../api/index.js";
import type { ApiHandler } from "../server.js";

/**
 * An ApiHandler that records requests and answers with `respond` (default: echo the request as
 * JSON). Watches yield the queued `watchEvents`, then wait until the signal aborts (or end at
 * once with `watchEndsAfterEvents`, as a watch whose timeout passed).
 */
export class FakeApiHandler implements ApiHandler {
  readonly requests: ApiRequest[] = [];
  respond: (req: ApiRequest) => Promise<ApiResponse> = (req) =>
    Promise.resolve({ status: 200, body: { echo: req } });
  watchEvents: WatchEvent[] = [];
  /** End each watch after its events instead of waiting for the client to go. */
  watchEndsAfterEvents = false;
  /** Thrown by `watch` before its first event, when set. */
  watchError: Error | undefined;
  /** Resolves when a watch's signal aborted (client disconnect). */
  watchAborted: Promise<void>;
  #resolveAborted: () => void = () => undefined;

  constructor() {
    this.watchAborted = new Promise((resolve) => {
      this.#resolveAborted = resolve;
    });
  }

  handle(req: ApiRequest): Promise<ApiResponse> {
    this.requests.push(req);
    return this.respond(req);
  }

  async *watch(req: ApiRequest, opts: { signal: AbortSignal }): AsyncIterable<WatchEvent> {
    this.requests.push(req);
    if (this.watchError !== undefined) throw this.watchError;
    for (const ev of this.watchEvents) yield ev;
    if (this.watchEndsAfterEvents) return;
    await new Promise<void>((resolve) => {
      if (opts.signal.aborted) resolve();
      else
        opts.signal.addEventListener(
          "abort",
          () => {
            resolve();
          },
          { once: true },
        );
    });
    this.#resolveAborted();
  }
}
