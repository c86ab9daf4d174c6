/**
 * Offline gene ID → symbol mapping from a table file, for machines without network access (e.g. an
 * export from Ensembl BioMart or a GTF). Tab- or comma-separated; the first line may be a header.
 */
import { readFileSync, statSync } from "node:fs";
import { FileFormatError } from "../errors.ts";
import { pyLower } from "./pythonText.ts";
import { looksLikeEnsemblId } from "./geneSymbols.ts";

/** Words that mark a header line ("gene_id", "Gene stable ID", "symbol", "hgnc_symbol"…). */
const HEADER_WORDS = new Set([
  "id",
  "ids",
  "gene",
  "genes",
  "symbol",
  "symbols",
  "name",
  "names",
  "ensembl",
  "stable",
  "query",
  "hgnc",
  "feature",
  "from",
  "to",
  "source",
  "target",
  "mgi",
  "entrez",
]);

function isHeaderCell(cell: string): boolean {
  return pyLower(cell)
    .split(/[\s_.\-/()]+/)
    .some((w) => HEADER_WORDS.has(w));
}

/** Split one line of a delimited file; double-quoted fields may contain the delimiter ("" is a quote). */
function splitLine(line: string, delimiter: string): string[] {
  if (!line.includes('"')) return line.split(delimiter).map((c) => c.trim());
  const out: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === delimiter) {
      out.push(cell.trim());
      cell = "";
    } else cell += c;
  }
  out.push(cell.trim());
  return out;
}

export interface SymbolMappingTable {
  /** ID → symbol. */
  map: Map<string, string>;
  /** The column names when the file had a header line, else null. */
  header: string[] | null;
  /** Which columns (0-based) were read as ID and symbol. */
  idColumn: number;
  symbolColumn: number;
}

/**
 * Read an ID → symbol table. The delimiter is a tab when the first line has one, else a comma. The
 * first line is a header (unless `header` says otherwise) when its first cell is not an Ensembl-style ID
 * and one of its cells is a word like "id", "gene", "symbol", "name" ("gene_id", "Gene stable ID",
 * "hgnc_symbol"…); then the ID column is the first and the symbol column
 * the first whose name mentions "symbol" or "name" (else the second). Without a header, column 1 holds
 * IDs and column 2 symbols. Rows with an empty symbol are skipped (no mapping); a later row for the
 * same ID wins. Empty lines and lines starting with '#' are ignored.
 *
 * @throws FileFormatError when the file is missing, empty, or has fewer than two columns
 */
export interface ReadSymbolMappingOptions {
  /** Whether the first line is a header; default: detected. */
  header?: boolean;
}

export function readSymbolMapping(path: string, options: ReadSymbolMappingOptions = {}): SymbolMappingTable {
  let text: string;
  try {
    if (statSync(path).isDirectory()) throw new FileFormatError(`is a directory, not a mapping file`, { file: path });
    text = readFileSync(path, "utf8");
  } catch (err) {
    if (err instanceof FileFormatError) throw err;
    throw new FileFormatError(
      `cannot read the gene mapping file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      { file: path },
    );
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a byte-order mark from spreadsheet exports
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "" && !l.startsWith("#"));
  if (lines.length === 0) throw new FileFormatError(`the gene mapping file is empty`, { file: path });
  const delimiter = lines[0]!.includes("\t") ? "\t" : ",";
  const first = splitLine(lines[0]!, delimiter);
  if (first.length < 2) {
    throw new FileFormatError(`a gene mapping file needs two columns (ID, symbol) separated by a tab or a comma`, {
      file: path,
      hint: `its first line is '${lines[0]!.slice(0, 80)}'`,
    });
  }
  // An ID in the first cell means data (a symbol such as "ID1" is not a header word either).
  const detected = !looksLikeEnsemblId(first[0]!) && first.some(isHeaderCell);
  const header = (options.header ?? detected) ? first : null;
  const idColumn = 0;
  let symbolColumn = 1;
  if (header) {
    const named = header.findIndex((h, i) => i > 0 && /symbol/i.test(h));
    const byName = header.findIndex((h, i) => i > 0 && /name/i.test(h));
    symbolColumn = named >= 0 ? named : byName >= 0 ? byName : 1;
  }
  const map = new Map<string, string>();
  for (let r = header ? 1 : 0; r < lines.length; r++) {
    const cells = splitLine(lines[r]!, delimiter);
    const id = cells[idColumn] ?? "";
    const symbol = cells[symbolColumn] ?? "";
    if (id !== "" && symbol !== "") map.set(id, symbol);
  }
  return { map, header, idColumn, symbolColumn };
}
