/**
 * A realistic synthetic Perturb-seq screen, for the demo, tests and benchmarks.
 *
 * Counts are negative binomial per gene and cell, as UMI counts are:
 *  - gene-wise relative expression is log-normally spread (a few genes take a large share, most are
 *    low), with a block of highly expressed housekeeping / ribosomal genes and 13 mitochondrial genes;
 *  - dispersion decreases with mean (low genes are noisier, relatively), with gene-to-gene scatter;
 *  - cells differ in library size (log-normal, a per-gem-group factor), ~4% are stressed (high
 *    mitochondrial fraction) and ~3% are near-empty droplets, so QC has something to find;
 *  - each cell carries one guide: a non-targeting control guide, or one of two guides against one of K
 *    target genes. A guide knocks its target down (CRISPRi-like, 60–95%, a few targets weakly) and
 *    shifts a handful of downstream genes (|log2 fold change| 0.6–1.5).
 *
 * Everything is drawn from a seeded generator. Each cell has its own generator stream (seeded from the
 * screen seed and the cell's position), so any block of rows can be generated on its own and the file
 * is the same whatever the chunk size.
 *
 * Gene IDs: the 13 mitochondrial genes carry their real Ensembl IDs. All other IDs are invented, in
 * ENSG00000900000+ (outside the range Ensembl uses), and most symbols are placeholders (GENE0001);
 * targets and housekeeping genes borrow real symbols so that labels read naturally. uns['demo'] says so.
 */
import { InvalidArgumentError } from "../errors.ts";
import {
  categorical,
  dataframe,
  dict,
  ndarray,
  scalar,
  strings,
  type AnnData,
  type DataFrame,
  type Element,
  type SparseMatrix,
} from "../io/anndata/model.ts";
import { Random } from "./random.ts";

export interface ScreenSpec {
  cells: number;
  genes: number;
  perturbations: number;
  seed: number;
}

export const DEFAULT_SCREEN: ScreenSpec = { cells: 5000, genes: 2000, perturbations: 20, seed: 0 };

export const CONTROL_LABEL = "non-targeting";
const GUIDES_PER_TARGET = 2;
const CONTROL_GUIDES = 4;
/** Share of cells with a control guide, relative to one target (controls are over-represented in real screens). */
const CONTROL_WEIGHT = 3;
const GEM_GROUPS = 4;

/** The 13 mitochondrially encoded protein-coding genes, with their Ensembl IDs (GRCh38). */
const MITO_GENES: [string, string][] = [
  ["MT-ND1", "ENSG00000198888"],
  ["MT-ND2", "ENSG00000198763"],
  ["MT-CO1", "ENSG00000198804"],
  ["MT-CO2", "ENSG00000198712"],
  ["MT-ATP8", "ENSG00000228253"],
  ["MT-ATP6", "ENSG00000198899"],
  ["MT-CO3", "ENSG00000198938"],
  ["MT-ND3", "ENSG00000198840"],
  ["MT-ND4L", "ENSG00000212907"],
  ["MT-ND4", "ENSG00000198886"],
  ["MT-ND5", "ENSG00000198786"],
  ["MT-ND6", "ENSG00000198695"],
  ["MT-CYB", "ENSG00000198727"],
];

/** Highly expressed genes and their share of a (non-mitochondrial) library. */
const HOUSEKEEPING: [string, number][] = [
  ["MALAT1", 0.03],
  ["ACTB", 0.015],
  ["TMSB4X", 0.015],
  ["EEF1A1", 0.015],
  ["GAPDH", 0.01],
  ["FTL", 0.01],
  ["FTH1", 0.01],
  ["TPT1", 0.008],
  ["B2M", 0.008],
  ...[
    "RPL3",
    "RPL4",
    "RPL5",
    "RPL7",
    "RPL8",
    "RPL10",
    "RPL13",
    "RPL13A",
    "RPL19",
    "RPL21",
    "RPL32",
    "RPS2",
    "RPS3",
    "RPS4X",
    "RPS6",
    "RPS8",
    "RPS12",
    "RPS14",
    "RPS18",
    "RPS27A",
  ].map((s): [string, number] => [s, 0.006]),
];

/** Genes often knocked down in Perturb-seq screens; used as target names. */
const TARGET_SYMBOLS = (
  "GATA1 TAL1 KLF1 MYC SPI1 CEBPA CEBPB RUNX1 FLI1 ETV6 IKZF1 GFI1B LMO2 NFE2 ZFPM1 STAT5A STAT5B JUN FOS " +
  "EGR1 TP53 MDM2 CDKN1A BRCA1 ATM CHEK2 RB1 E2F1 CCND1 CDK4 CDK6 MCM2 POLR2A RPA1 SF3B1 SRSF2 U2AF1 DDX3X " +
  "EIF4A1 EIF2S1 HSPA5 ATF4 XBP1 ERN1 DDIT3 NRF1 TFAM POLG SDHA NDUFS1 UQCRC1 COX4I1 PSMA1 PSMB5 PSMD1 VCP " +
  "UBA1 SMARCA4 ARID1A EP300 CREBBP KMT2D DNMT1 EZH2 SUZ12 HDAC1 HDAC2 BRD4 CTCF RAD21 SMC3 YY1 MAX MAZ SP1 " +
  "ELK1 ETS1 NFKB1 RELA IRF1 STAT1 STAT3 JAK1 JAK2 MAPK1 MAPK3 KRAS NRAS BRAF PIK3CA PTEN AKT1 MTOR RPTOR " +
  "TSC1 TSC2 HIF1A VHL NOTCH1"
).split(" ");

/** A gene's expression change under one guide: expression is multiplied by `factor`. */
interface GeneEffect {
  gene: number;
  factor: number;
}

interface Guide {
  label: string;
  /** Index into targets, or -1 for a control guide. */
  target: number;
  /** Sorted by gene. */
  effects: GeneEffect[];
}

/** A generated block of counts: CSR with float32 counts and int32 indices/indptr. */
export type CountBlock = SparseMatrix & { type: "csr"; data: Float32Array; indices: Int32Array; indptr: Int32Array };

/** What the screen was built with: to check that an analysis finds it. */
export interface ScreenTruth {
  targets: string[];
  /** Mean knock-down of each target over its guides (0.8 = expression down 80%). */
  knockdown: number[];
  /** Downstream effects: one row per (target, gene). */
  effects: { target: string; gene: string; log2fc: number }[];
  /** Each gene's NB dispersion φ = 1/θ of the counts drawn (variance μ + φμ²), before cell-level extras. */
  dispersion: Float64Array;
}

export interface SyntheticScreen {
  spec: ScreenSpec;
  nObs: number;
  nVars: number;
  obs: DataFrame;
  var: DataFrame;
  uns: Record<string, Element>;
  truth: ScreenTruth;
  /** Generate the counts of cells [start, end) as a float32 CSR block (the same whatever the blocks). */
  rows(start: number, end: number): CountBlock;
}

function checkSpec(spec: ScreenSpec): void {
  const positiveInt = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min)
      throw new InvalidArgumentError(`--${name} must be an integer ≥ ${min}, got ${v}`);
  };
  positiveInt("cells", spec.cells, 1);
  positiveInt("genes", spec.genes, 10);
  positiveInt("perturbations", spec.perturbations, 1);
  if (!Number.isInteger(spec.seed) || spec.seed < 0 || spec.seed > 0xffffffff) {
    throw new InvalidArgumentError(`--seed must be an integer between 0 and 4294967295, got ${spec.seed}`);
  }
  const maxTargets = Math.floor(spec.genes / 4);
  if (spec.perturbations > maxTargets) {
    throw new InvalidArgumentError(
      `--perturbations ${spec.perturbations} is too many for ${spec.genes} genes (at most ${maxTargets}, a quarter of the genes)`,
    );
  }
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/** A 16-base cell barcode with its gem-group suffix, as Cell Ranger writes them. */
function barcode(rng: Random, gem: number): string {
  let s = "";
  for (let i = 0; i < 16; i++) s += "ACGT"[rng.int(4)];
  return `${s}-${gem}`;
}

/** Build a screen: metadata now, counts on demand by `rows()`. */
export function syntheticScreen(spec: ScreenSpec = DEFAULT_SCREEN): SyntheticScreen {
  checkSpec(spec);
  const rng = new Random(spec.seed);
  const { genes: nGenes, cells: nCells, perturbations: nTargets } = spec;

  // ---- genes: which are mitochondrial / housekeeping / ordinary, and their expression ------------------
  const nMito = nGenes >= 130 ? MITO_GENES.length : Math.min(MITO_GENES.length, Math.floor(nGenes / 10));
  const nHousekeeping = nGenes >= 400 ? HOUSEKEEPING.length : 0;
  const symbols: string[] = new Array(nGenes);
  const ids: string[] = new Array(nGenes);
  const isMito = new Uint8Array(nGenes);
  const share = new Float64Array(nGenes); // relative expression; non-mito genes sum to 1, mito genes sum to 1

  // Ordinary and housekeeping genes are interleaved at random (genome order); mitochondrial genes come
  // last, as chrM does in Cell Ranger references.
  const nonMito = nGenes - nMito;
  const order = rng.shuffle(Array.from({ length: nonMito }, (_, i) => i));
  const housekeepingAt = new Set(order.slice(0, nHousekeeping));
  const ordinaryShare = 1 - HOUSEKEEPING.slice(0, nHousekeeping).reduce((s, [, w]) => s + w, 0);
  const logShares = new Float64Array(nonMito);
  let logSum = 0;
  for (let g = 0; g < nonMito; g++) {
    if (housekeepingAt.has(g)) continue;
    logShares[g] = rng.logNormal(0, 1.8);
    logSum += logShares[g]!;
  }
  let ordinaryNumber = 0;
  const ordinaryGenes: number[] = [];
  for (let g = 0; g < nonMito; g++) {
    if (housekeepingAt.has(g)) {
      const [sym, w] = HOUSEKEEPING[order.indexOf(g)]!;
      symbols[g] = sym;
      share[g] = w;
    } else {
      symbols[g] = `GENE${pad(++ordinaryNumber, 4)}`;
      share[g] = (logShares[g]! / logSum) * ordinaryShare;
      ordinaryGenes.push(g);
    }
    ids[g] = `ENSG${pad(900000 + g + 1, 11)}.${1 + rng.int(18)}`;
  }
  const mitoWeights = Array.from({ length: nMito }, () => rng.logNormal(0, 0.6));
  const mitoSum = mitoWeights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < nMito; i++) {
    const g = nonMito + i;
    symbols[g] = MITO_GENES[i]![0];
    ids[g] = `${MITO_GENES[i]![1]}.${1 + rng.int(3)}`;
    isMito[g] = 1;
    share[g] = mitoWeights[i]! / mitoSum;
  }

  // Library sizes scale with the number of genes (a 2,000-gene panel of a ~10k-UMI cell).
  const medianLibrary = Math.min(20000, Math.max(500, 1.5 * nGenes));

  // Inverse dispersion theta = 1/phi; phi falls with the gene's mean count (more Poisson-like when high
  // relative to its mean, as in UMI data), with log-normal scatter between genes.
  const theta = new Float64Array(nGenes);
  for (let g = 0; g < nGenes; g++) {
    const mean = share[g]! * medianLibrary * (isMito[g] ? 0.05 : 1);
    const phi = (0.03 + 0.3 / Math.sqrt(mean + 0.05)) * rng.logNormal(0, 0.4);
    theta[g] = 1 / Math.min(phi, 20);
  }

  // ---- targets and guides --------------------------------------------------------------------------
  // Targets are ordinary genes expressed well enough for a knock-down to be seen (top half by share).
  const byShare = [...ordinaryGenes].sort((a, b) => share[b]! - share[a]!);
  const candidates = byShare.slice(0, Math.max(nTargets, Math.floor(byShare.length / 2)));
  const targetGenes = rng.sample(candidates.length, nTargets).map((i) => candidates[i]!);
  const targets: string[] = [];
  targetGenes.forEach((g, t) => {
    const name = t < TARGET_SYMBOLS.length ? TARGET_SYMBOLS[t]! : `TARGET${pad(t + 1, 4)}`;
    symbols[g] = name;
    targets.push(name);
  });
  const responsive = byShare.slice(0, Math.max(10, Math.floor(byShare.length * 0.6)));

  const guides: Guide[] = [];
  for (let i = 1; i <= CONTROL_GUIDES; i++) guides.push({ label: `${CONTROL_LABEL}_sg${i}`, target: -1, effects: [] });
  const truth: ScreenTruth = { targets, knockdown: [], effects: [], dispersion: theta.map((t) => 1 / t) };
  targetGenes.forEach((tg, t) => {
    const weak = rng.uniform() < 0.15;
    const efficiency = weak ? 0.3 + 0.2 * rng.uniform() : 0.6 + 0.35 * rng.uniform();
    const downstream: { gene: number; log2fc: number }[] = [];
    if (!weak) {
      const n = 3 + rng.int(6);
      for (const i of rng.sample(responsive.length, Math.min(n + 1, responsive.length))) {
        const gene = responsive[i]!;
        if (gene === tg || downstream.length === n) continue;
        downstream.push({ gene, log2fc: (rng.uniform() < 0.5 ? -1 : 1) * (0.6 + 0.9 * rng.uniform()) });
      }
    }
    let kdSum = 0;
    for (let s = 1; s <= GUIDES_PER_TARGET; s++) {
      // The second guide is usually a little weaker than the first.
      const eff = s === 1 ? efficiency : efficiency * (0.75 + 0.25 * rng.uniform());
      kdSum += eff;
      const effects: GeneEffect[] = [{ gene: tg, factor: 1 - eff }];
      // Downstream shifts scale with how much of the target is gone.
      for (const d of downstream) effects.push({ gene: d.gene, factor: Math.pow(2, d.log2fc * (eff / efficiency)) });
      effects.sort((a, b) => a.gene - b.gene);
      guides.push({ label: `${targets[t]}_sg${s}`, target: t, effects });
    }
    truth.knockdown.push(kdSum / GUIDES_PER_TARGET);
    for (const d of downstream) truth.effects.push({ target: targets[t]!, gene: symbols[d.gene]!, log2fc: d.log2fc });
  });

  // ---- cells ---------------------------------------------------------------------------------------
  // Guide weights: all control guides together get CONTROL_WEIGHT targets' worth of cells.
  const weights = guides.map((g) => (g.target < 0 ? CONTROL_WEIGHT / CONTROL_GUIDES : 1 / GUIDES_PER_TARGET));
  const cumulative = new Float64Array(weights.length);
  let acc = 0;
  weights.forEach((w, i) => {
    acc += w;
    cumulative[i] = acc;
  });
  const gemFactor = Array.from({ length: GEM_GROUPS }, () => rng.logNormal(0, 0.12));

  const cellGuide = new Int32Array(nCells);
  const cellGem = new Int32Array(nCells);
  const library = new Float64Array(nCells);
  const mitoFraction = new Float64Array(nCells);
  const barcodes: string[] = new Array(nCells);
  const seen = new Set<string>();
  for (let c = 0; c < nCells; c++) {
    const u = rng.uniform() * acc;
    let k = 0;
    while (cumulative[k]! < u) k++;
    cellGuide[c] = k;
    const gem = 1 + rng.int(GEM_GROUPS);
    cellGem[c] = gem;
    let bc: string;
    do bc = barcode(rng, gem);
    while (seen.has(bc));
    seen.add(bc);
    barcodes[c] = bc;
    const kind = rng.uniform();
    let lib = medianLibrary * gemFactor[gem - 1]! * rng.logNormal(0, 0.35);
    let mito = Math.min(0.15, rng.logNormal(Math.log(0.045), 0.3));
    if (kind < 0.03) {
      lib *= 0.08; // near-empty droplet
      mito = 0.05 + 0.1 * rng.uniform();
    } else if (kind < 0.07) {
      mito = 0.15 + 0.3 * rng.uniform(); // stressed / dying cell
      lib *= 0.6;
    }
    library[c] = lib;
    mitoFraction[c] = nMito > 0 ? mito : 0;
  }

  const perturbationOf = (k: number) => (guides[k]!.target < 0 ? CONTROL_LABEL : targets[guides[k]!.target]!);
  const perturbationLabels = Array.from(cellGuide, perturbationOf);
  const obs = dataframe(barcodes, {
    perturbation: categorical(perturbationLabels),
    guide_id: categorical(Array.from(cellGuide, (k) => guides[k]!.label)),
    gem_group: ndarray(cellGem),
  });
  const varDf = dataframe(ids, {
    gene_symbols: strings(symbols),
    feature_types: categorical(new Array<string>(nGenes).fill("Gene Expression")),
  });

  const uns: Record<string, Element> = {
    demo: dict({
      generator: scalar("crispyx demo (synthetic Perturb-seq screen)"),
      note: scalar(
        "Synthetic data. Mitochondrial gene IDs are real (GRCh38); all other Ensembl IDs (ENSG000009xxxxx) are invented, " +
          "and GENE#### symbols are placeholders. Counts are negative binomial; see uns['demo']['truth'] for the planted effects.",
      ),
      seed: scalar(spec.seed, "int64"),
      n_cells: scalar(nCells, "int64"),
      n_genes: scalar(nGenes, "int64"),
      n_perturbations: scalar(nTargets, "int64"),
      control_label: scalar(CONTROL_LABEL),
      perturbation_column: scalar("perturbation"),
      truth: dict({
        targets: strings(targets),
        knockdown: ndarray(Float64Array.from(truth.knockdown)),
        effect_target: strings(truth.effects.map((e) => e.target)),
        effect_gene: strings(truth.effects.map((e) => e.gene)),
        effect_log2fc: ndarray(Float64Array.from(truth.effects.map((e) => e.log2fc))),
      }),
    }),
  };

  const seedBase = spec.seed;
  function rows(start: number, end: number): CountBlock {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > nCells || start > end) {
      throw new RangeError(`rows ${start}:${end} outside 0:${nCells}`);
    }
    const indptr = new Int32Array(end - start + 1);
    let cap = Math.max(1024, Math.ceil((end - start) * nGenes * 0.5));
    let data = new Float32Array(cap);
    let indices = new Int32Array(cap);
    let nnz = 0;
    const mu = new Float64Array(nGenes);
    for (let c = start; c < end; c++) {
      // One stream per cell: any block of rows can be generated independently.
      const r = new Random((Math.imul(seedBase ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(c + 1, 0x85ebca6b)) >>> 0);
      const lib = library[c]!;
      const nonMitoScale = lib * (1 - mitoFraction[c]!);
      const mitoScale = lib * mitoFraction[c]!;
      for (let g = 0; g < nGenes; g++) mu[g] = share[g]! * (isMito[g] ? mitoScale : nonMitoScale);
      for (const e of guides[cellGuide[c]!]!.effects) mu[e.gene]! *= e.factor;
      if (nnz + nGenes > cap) {
        cap = Math.max(cap * 2, nnz + nGenes);
        const d = new Float32Array(cap);
        d.set(data.subarray(0, nnz));
        data = d;
        const ix = new Int32Array(cap);
        ix.set(indices.subarray(0, nnz));
        indices = ix;
      }
      for (let g = 0; g < nGenes; g++) {
        const k = r.negativeBinomial(mu[g]!, theta[g]!);
        if (k > 0) {
          data[nnz] = k;
          indices[nnz] = g;
          nnz++;
        }
      }
      indptr[c - start + 1] = nnz;
    }
    return {
      type: "csr",
      shape: [end - start, nGenes],
      data: data.slice(0, nnz),
      indices: indices.slice(0, nnz),
      indptr,
    };
  }

  return { spec, nObs: nCells, nVars: nGenes, obs, var: varDf, uns, truth, rows };
}

/** The whole screen in memory (small screens only: tests, examples). */
export function syntheticAnnData(screen: SyntheticScreen): AnnData {
  return {
    X: screen.rows(0, screen.nObs),
    obs: screen.obs,
    var: screen.var,
    uns: screen.uns,
    obsm: {},
    varm: {},
    obsp: {},
    varp: {},
    layers: {},
    raw: null,
  };
}
