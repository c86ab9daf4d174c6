/**
 * Gene ID → symbol lookup through the public MyGene.info batch query API, sending the requests the
 * seed sends through its `mygene` client: POST {baseUrl}/query/ with a form body
 * `q="ID1","ID2",…&fields=symbol&species=human&scopes=ensembl.gene,symbol`, 1,000 IDs per request.
 * The base URL is configurable (a mirror, or a test server); every request has a timeout, so a slow
 * or unreachable server ends in one clear error instead of a hang.
 */
import { CrispyxError, InvalidArgumentError } from "../errors.ts";
import type { ProgressCallback } from "../core/streaming.ts";
import { throwIfAborted } from "../core/streaming.ts";

/** MyGene.info's public endpoint (version 3 of its API), as the `mygene` Python client uses. */
export const MYGENE_DEFAULT_URL = "https://mygene.info/v3";
/** IDs per request: MyGene.info's limit for a batch query, and the client's step. */
export const MYGENE_BATCH_SIZE = 1000;

/** The lookup service could not be reached, did not answer in time, or answered with an error. */
export class LookupServiceError extends CrispyxError {}

export interface MyGeneOptions {
  /** Species name or taxonomy ID MyGene.info understands ("human", "mouse", "9606"…). Default "human". */
  species?: string;
  /** API base URL. Default {@link MYGENE_DEFAULT_URL}. */
  baseUrl?: string;
  /** Time allowed for each request, in milliseconds. Default 30,000. */
  timeoutMs?: number;
  /** Extra attempts after a failed request (network error, timeout, HTTP 429 or 5xx). Default 2. */
  retries?: number;
  /** Pause between batches, as the Python client makes (courtesy to the public service). Default 1,000 ms. */
  delayMs?: number;
  /** IDs per request (at most 1,000). Default 1,000. */
  batchSize?: number;
  /** Called after each batch: phase "MyGene.info lookup", done/total in batches. */
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

/** application/x-www-form-urlencoded as Python's urlencode (quote_plus) writes it, byte for byte. */
export function formEncode(fields: ReadonlyArray<readonly [string, string]>): string {
  const enc = (s: string) =>
    Array.from(new TextEncoder().encode(s), (b) => {
      const c = String.fromCharCode(b);
      if (/[A-Za-z0-9_.~-]/.test(c)) return c;
      if (c === " ") return "+";
      return "%" + b.toString(16).toUpperCase().padStart(2, "0");
    }).join("");
  return fields.map(([k, v]) => `${enc(k)}=${enc(v)}`).join("&");
}

/** The form fields of one batch query, in the order the Python client sends them. */
export function myGeneQueryFields(ids: readonly string[], species: string): Array<[string, string]> {
  return [
    ["q", ids.map((id) => `"${id}"`).join(",")],
    ["fields", "symbol"],
    ["species", species],
    ["scopes", "ensembl.gene,symbol"],
  ];
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (ms <= 0) return resolve();
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason instanceof Error ? signal!.reason : new Error("operation was cancelled"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

interface Hit {
  query?: unknown;
  symbol?: unknown;
  notfound?: unknown;
}

/** Why a request failed, and whether trying again could help. */
class RequestFailure extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
  }
}

async function postBatch(url: string, body: string, timeoutMs: number, signal?: AbortSignal): Promise<Hit[]> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let text: string;
  let status: number;
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "user-agent": "crispyx (MyGene.info batch lookup)",
      },
      body,
      signal: combined,
    });
    status = res.status;
    text = await res.text();
  } catch (err) {
    throwIfAborted(signal);
    if (timeout.aborted) throw new RequestFailure(`no answer within ${timeoutMs / 1000} s`, true);
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why =
      cause?.code === "ECONNREFUSED"
        ? "connection refused"
        : cause?.code === "ENOTFOUND" || cause?.code === "EAI_AGAIN"
          ? "host not found (no network?)"
          : (cause?.message ?? (err as Error).message);
    throw new RequestFailure(why, true);
  }
  if (status < 200 || status >= 300) {
    throw new RequestFailure(`HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ""}`, status === 429 || status >= 500);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RequestFailure(`the answer is not JSON: ${text.slice(0, 200)}`, false);
  }
  if (!Array.isArray(parsed)) {
    throw new RequestFailure(`expected a list of hits, got: ${text.slice(0, 200)}`, false);
  }
  return parsed as Hit[];
}

/**
 * Look up gene symbols for `ids` (Ensembl gene IDs or symbols; duplicates are queried once) through
 * MyGene.info. Returns the IDs that were found, each mapped to its symbol; an ID with several hits
 * takes the last one's symbol, as the seed does. IDs not in the map were not found.
 *
 * @throws LookupServiceError when the service cannot be reached, times out, or answers with an error
 *   (after `retries` further attempts), naming the URL and the reason
 */
export async function lookupSymbolsMyGene(
  ids: Iterable<string>,
  options: MyGeneOptions = {},
): Promise<Map<string, string>> {
  const species = options.species ?? "human";
  const baseUrl = (options.baseUrl ?? MYGENE_DEFAULT_URL).replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? 30_000;
  const retries = options.retries ?? 2;
  const delayMs = options.delayMs ?? 1000;
  const batchSize = options.batchSize ?? MYGENE_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MYGENE_BATCH_SIZE) {
    throw new InvalidArgumentError(`batch size must be an integer from 1 to ${MYGENE_BATCH_SIZE}, got ${batchSize}`);
  }
  if (!(timeoutMs > 0))
    throw new InvalidArgumentError(`timeout must be a positive number of milliseconds, got ${timeoutMs}`);
  if (!Number.isInteger(retries) || retries < 0)
    throw new InvalidArgumentError(`retries must be a non-negative integer, got ${retries}`);
  if (!species.trim()) throw new InvalidArgumentError("species must not be empty (e.g. 'human', 'mouse')");
  try {
    new URL(baseUrl);
  } catch {
    throw new InvalidArgumentError(`'${baseUrl}' is not a URL (expected e.g. ${MYGENE_DEFAULT_URL})`);
  }

  const unique = [...new Set(ids)];
  const url = `${baseUrl}/query/`;
  const total = Math.ceil(unique.length / batchSize);
  const symbols = new Map<string, string>();
  for (let b = 0; b < total; b++) {
    throwIfAborted(options.signal);
    if (b > 0) await sleep(delayMs, options.signal);
    const batch = unique.slice(b * batchSize, (b + 1) * batchSize);
    const body = formEncode(myGeneQueryFields(batch, species));
    let hits: Hit[] | undefined;
    for (let attempt = 0; hits === undefined; attempt++) {
      try {
        hits = await postBatch(url, body, timeoutMs, options.signal);
      } catch (err) {
        if (!(err instanceof RequestFailure)) throw err;
        if (!err.transient || attempt >= retries) {
          throw new LookupServiceError(
            `gene symbol lookup failed at ${url} (batch ${b + 1} of ${total}${attempt > 0 ? `, ${attempt + 1} attempts` : ""}): ${err.message}`,
            {
              hint: "check the network or the base URL, raise the timeout, or map IDs offline with a mapping file (id → symbol TSV/CSV)",
            },
          );
        }
        await sleep(1000 * (attempt + 1), options.signal);
      }
    }
    for (const hit of hits) {
      if (hit === null || typeof hit !== "object") continue;
      const query = hit.query === undefined || hit.query === null ? "" : String(hit.query);
      if (hit.symbol && !hit.notfound) symbols.set(query, String(hit.symbol));
    }
    options.onProgress?.({ phase: "MyGene.info lookup", done: b + 1, total, unit: "batch" });
  }
  return symbols;
}
