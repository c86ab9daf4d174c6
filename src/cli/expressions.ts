/**
 * Cell and gene selections for `crispyx filter`, written the way one would in pandas:
 *
 *   obs.perturbation != 'non-targeting'
 *   obs.n_genes >= 200 and obs.pct_counts_mt < 20
 *   var.gene_symbols in ['GATA1', 'TAL1'] or not (var.n_cells < 3)
 *   obs['guide id'] == 'x'      (brackets for names that are not identifiers)
 *   obs_names in ['AAAC-1']     (the row names)
 *
 * Grammar: or-expressions of and-expressions of (not)? comparisons, with parentheses. Comparisons:
 * == != < <= > >= against a number, a quoted string, true/false, or `in` / `not in` a [list].
 * Missing values (NaN, a missing category) compare false, except `!=` and `not in`, which are true,
 * as in pandas. Comparing text with a number (or the reverse) is an error, not a silent "false".
 */
import { InvalidArgumentError } from "../errors.ts";
import type { Cell } from "./output.ts";

export type Axis = "obs" | "var";

type Literal = number | string | boolean;

type Node =
  | { kind: "and" | "or"; left: Node; right: Node }
  | { kind: "not"; operand: Node }
  | { kind: "compare"; axis: Axis; column: string | null; op: "==" | "!=" | "<" | "<=" | ">" | ">="; value: Literal }
  | { kind: "in"; axis: Axis; column: string | null; negated: boolean; values: Literal[] };

interface Token {
  type: "ident" | "string" | "number" | "op" | "punct";
  text: string;
  value?: string | number;
  at: number;
}

function fail(expr: string, at: number, what: string): never {
  throw new InvalidArgumentError(`cannot read the selection "${expr}": ${what} at character ${at + 1}`, {
    hint: "e.g. \"obs.perturbation != 'non-targeting' and obs.n_genes >= 200\" (quote text values)",
  });
}

function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const ch = expr[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const rest = expr.slice(i);
    let m: RegExpMatchArray | null;
    if ((m = rest.match(/^(==|!=|<=|>=|<|>|&&|\|\||=)/))) {
      const op = m[1] === "=" ? "==" : m[1] === "&&" ? "and" : m[1] === "||" ? "or" : m[1]!;
      tokens.push({ type: op === "and" || op === "or" ? "ident" : "op", text: op, at: i });
      i += m[1]!.length;
    } else if (ch === "!") {
      tokens.push({ type: "ident", text: "not", at: i });
      i++;
    } else if (ch === "&" || ch === "|") {
      tokens.push({ type: "ident", text: ch === "&" ? "and" : "or", at: i });
      i++;
    } else if ("()[],.".includes(ch)) {
      // A "." before a digit starts a number (.5), otherwise it is attribute access.
      if (ch === "." && /^\.\d/.test(rest) && tokens.at(-1)?.type !== "ident") {
        m = rest.match(/^\.\d+(e[+-]?\d+)?/i)!;
        tokens.push({ type: "number", text: m[0], value: Number(m[0]), at: i });
        i += m[0].length;
      } else {
        tokens.push({ type: "punct", text: ch, at: i });
        i++;
      }
    } else if (ch === "'" || ch === '"') {
      let j = i + 1;
      let s = "";
      while (j < expr.length && expr[j] !== ch) {
        if (expr[j] === "\\" && j + 1 < expr.length) {
          s += expr[j + 1];
          j += 2;
        } else {
          s += expr[j];
          j++;
        }
      }
      if (j >= expr.length) fail(expr, i, "a quoted text is not closed");
      tokens.push({ type: "string", text: expr.slice(i, j + 1), value: s, at: i });
      i = j + 1;
    } else if ((m = rest.match(/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?|^[+-]?(inf|nan)\b/i))) {
      tokens.push({
        type: "number",
        text: m[0],
        value: Number(m[0].toLowerCase().replace("inf", "Infinity").replace("nan", "NaN")),
        at: i,
      });
      i += m[0].length;
    } else if ((m = rest.match(/^[A-Za-z_][\w-]*/))) {
      tokens.push({ type: "ident", text: m[0], at: i });
      i += m[0].length;
    } else {
      fail(expr, i, `unexpected '${ch}'`);
    }
  }
  return tokens;
}

class Parser {
  private pos = 0;
  constructor(
    private readonly expr: string,
    private readonly tokens: Token[],
  ) {}

  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }
  private next(): Token | undefined {
    return this.tokens[this.pos++];
  }
  private atWord(word: string): boolean {
    const t = this.peek();
    return !!t && t.type === "ident" && t.text.toLowerCase() === word;
  }
  private expect(text: string): void {
    const t = this.next();
    if (!t || t.text !== text)
      fail(
        this.expr,
        t?.at ?? this.expr.length,
        `expected '${text}'${t ? ` but found '${t.text}'` : " but the expression ended"}`,
      );
  }

  parse(): Node {
    if (this.tokens.length === 0) fail(this.expr, 0, "the expression is empty");
    const node = this.or();
    const t = this.peek();
    if (t) fail(this.expr, t.at, `unexpected '${t.text}' (join conditions with 'and' / 'or')`);
    return node;
  }

  private or(): Node {
    let left = this.and();
    while (this.atWord("or")) {
      this.next();
      left = { kind: "or", left, right: this.and() };
    }
    return left;
  }

  private and(): Node {
    let left = this.not();
    while (this.atWord("and")) {
      this.next();
      left = { kind: "and", left, right: this.not() };
    }
    return left;
  }

  private not(): Node {
    if (this.atWord("not")) {
      this.next();
      return { kind: "not", operand: this.not() };
    }
    const t = this.peek();
    if (t?.text === "(") {
      this.next();
      const inner = this.or();
      this.expect(")");
      return inner;
    }
    return this.comparison();
  }

  private reference(): { axis: Axis; column: string | null } {
    const t = this.next();
    if (!t || t.type !== "ident")
      fail(this.expr, t?.at ?? this.expr.length, "expected a column such as obs.perturbation or var.n_cells");
    const word = t.text;
    if (word === "obs_names" || word === "var_names") return { axis: word.slice(0, 3) as Axis, column: null };
    if (word !== "obs" && word !== "var")
      fail(this.expr, t.at, `'${word}' is not a column reference; write obs.${word} or var.${word}`);
    const p = this.next();
    if (p?.text === ".") {
      const name = this.next();
      if (!name || name.type !== "ident")
        fail(this.expr, name?.at ?? this.expr.length, "expected a column name after '.'");
      if (name.text === "index") return { axis: word, column: null };
      return { axis: word, column: name.text };
    }
    if (p?.text === "[") {
      const name = this.next();
      if (!name || name.type !== "string")
        fail(this.expr, name?.at ?? this.expr.length, "expected a quoted column name inside [ ]");
      this.expect("]");
      return { axis: word, column: String(name.value) };
    }
    return fail(this.expr, p?.at ?? this.expr.length, `expected '.' or '[' after '${word}'`);
  }

  private literal(): Literal {
    const t = this.next();
    if (!t) return fail(this.expr, this.expr.length, "expected a value but the expression ended");
    if (t.type === "number") return t.value as number;
    if (t.type === "string") return t.value as string;
    if (t.type === "ident" && /^(true|false)$/i.test(t.text)) return t.text.toLowerCase() === "true";
    return fail(
      this.expr,
      t.at,
      t.type === "ident"
        ? `'${t.text}' is not a value; quote text values: '${t.text}'`
        : `expected a value, found '${t.text}'`,
    );
  }

  private comparison(): Node {
    const ref = this.reference();
    let negated = false;
    if (this.atWord("not")) {
      this.next();
      negated = true;
      if (!this.atWord("in")) fail(this.expr, this.peek()?.at ?? this.expr.length, "expected 'in' after 'not'");
    }
    if (this.atWord("in")) {
      this.next();
      this.expect("[");
      const values: Literal[] = [];
      if (this.peek()?.text !== "]") {
        values.push(this.literal());
        while (this.peek()?.text === ",") {
          this.next();
          if (this.peek()?.text === "]") break;
          values.push(this.literal());
        }
      }
      this.expect("]");
      return { kind: "in", ...ref, negated, values };
    }
    const t = this.next();
    if (!t || t.type !== "op")
      return fail(this.expr, t?.at ?? this.expr.length, "expected a comparison (==, !=, <, <=, >, >=, in)");
    return { kind: "compare", ...ref, op: t.text as "==", value: this.literal() };
  }
}

/** A parsed selection: which columns it reads, and how to evaluate it. */
export interface Selection {
  text: string;
  axis: Axis;
  /** Columns read (null stands for the row names). */
  columns: (string | null)[];
  evaluate(column: (name: string | null) => Cell[], n: number): Uint8Array;
}

/** Parse `text` as a selection of rows of `axis` (a reference to the other axis is an error). */
export function parseSelection(text: string, axis: Axis): Selection {
  const root = new Parser(text, tokenize(text)).parse();
  const columns: (string | null)[] = [];
  const walk = (n: Node): void => {
    if (n.kind === "not") {
      walk(n.operand);
      return;
    }
    if (n.kind !== "compare" && n.kind !== "in") {
      walk(n.left);
      walk(n.right);
      return;
    }
    if (n.axis !== axis) {
      throw new InvalidArgumentError(
        `the selection "${text}" uses ${n.axis === "obs" ? "obs (cells)" : "var (genes)"} but selects ${axis === "obs" ? "cells" : "genes"}`,
        {
          hint: axis === "obs" ? 'select genes with --genes "var.…"' : 'select cells with --cells "obs.…"',
        },
      );
    }
    if (!columns.includes(n.column)) columns.push(n.column);
  };
  walk(root);
  return { text, axis, columns, evaluate: (get, n) => evaluate(root, get, n, text) };
}

function describe(axis: Axis, column: string | null): string {
  return column === null ? `${axis}_names` : `${axis}.${column}`;
}

function evaluate(node: Node, get: (name: string | null) => Cell[], n: number, text: string): Uint8Array {
  switch (node.kind) {
    case "and":
    case "or": {
      const a = evaluate(node.left, get, n, text);
      const b = evaluate(node.right, get, n, text);
      for (let i = 0; i < n; i++) a[i] = node.kind === "and" ? a[i]! & b[i]! : a[i]! | b[i]!;
      return a;
    }
    case "not": {
      const a = evaluate(node.operand, get, n, text);
      for (let i = 0; i < n; i++) a[i] = a[i]! ^ 1;
      return a;
    }
    case "in": {
      const cells = get(node.column);
      for (const v of node.values) checkComparable(cells, v, node.axis, node.column, text);
      const set = new Set<Cell>(node.values);
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const c = cells[i]!;
        const hit = c !== null && set.has(c);
        out[i] = (node.negated ? !hit : hit) ? 1 : 0;
      }
      return out;
    }
    case "compare": {
      const cells = get(node.column);
      checkComparable(cells, node.value, node.axis, node.column, text);
      const v = node.value;
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const c = cells[i]!;
        if (c === null || (typeof c === "number" && Number.isNaN(c))) {
          out[i] = node.op === "!=" ? 1 : 0;
          continue;
        }
        let r: boolean;
        switch (node.op) {
          case "==":
            r = c === v;
            break;
          case "!=":
            r = c !== v;
            break;
          case "<":
            r = c < v;
            break;
          case "<=":
            r = c <= v;
            break;
          case ">":
            r = c > v;
            break;
          case ">=":
            r = c >= v;
            break;
        }
        out[i] = r ? 1 : 0;
      }
      return out;
    }
  }
}

function checkComparable(cells: Cell[], v: Literal, axis: Axis, column: string | null, text: string): void {
  const sample = cells.find((c) => c !== null);
  if (sample === undefined) return;
  const kind = (x: Cell | Literal) =>
    typeof x === "boolean" ? "true/false" : typeof x === "number" ? "numbers" : "text";
  if (kind(sample) !== kind(v)) {
    const value = typeof v === "string" ? `'${v}'` : String(v);
    throw new InvalidArgumentError(
      `in "${text}": ${describe(axis, column)} holds ${kind(sample)}, but is compared with ${value}`,
      {
        hint:
          kind(sample) === "text"
            ? `quote the value: '${v}'`
            : kind(sample) === "numbers"
              ? "compare with a number, without quotes"
              : "compare with true or false",
      },
    );
  }
}
