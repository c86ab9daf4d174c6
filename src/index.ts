/**
 * crispyx — out-of-core analysis of single-cell CRISPR / Perturb-seq screens in .h5ad files.
 * The public library API. Everything here works on files and reads X only in bounded blocks.
 */
export { CrispyxError, FileFormatError, InvalidArgumentError, type ErrorCode } from "./errors.ts";

// h5ad I/O
export {
  openH5ad,
  H5adHandle,
  LazyTable,
  LazyMapping,
  type ElementPreview,
  type OpenOptions,
} from "./io/anndata/handle.ts";
export { MatrixReader, describeMatrix, type MatrixInfo, type StorageFormat } from "./io/anndata/matrixReader.ts";
export { readH5ad, writeH5ad, readAnnData, writeAnnDataTo, validateAnnData } from "./io/anndata/anndata.ts";
export {
  validate,
  checkStructure,
  assertValidStructure,
  MAX_UNS_DEPTH,
  type ValidationReport,
  type ValidationProblem,
} from "./io/anndata/validate.ts";
export { readElem, writeElem, KNOWN_ENCODINGS } from "./io/anndata/registry.ts";
export {
  isDenseStorage,
  getMatrixStorageFormat,
  loadObs,
  loadVar,
  writeObs,
  writeVar,
  writeObsm,
  writeVarm,
  writeObsp,
  writeUnsDict,
  writeObsColumns,
  writeVarColumns,
  resolveDataPath,
  resolveOutputPath,
  type DataSource,
  type OutputPathOptions,
} from "./io/anndata/fileHelpers.ts";
export {
  replaceElement,
  deleteElement,
  removeLeftoverStaging,
  recoverInterruptedEdit,
  type EditOptions,
} from "./io/anndata/edit.ts";
export { toElement, type PlainValue } from "./io/anndata/convert.ts";
export * from "./io/anndata/model.ts";
export { categoricalValues } from "./io/anndata/encodings/categorical.ts";
export { writeSettings, ioSettings } from "./io/anndata/settings.ts";
export {
  writeAtomically,
  clean,
  type AtomicWriteOptions,
  type CleanOptions,
  type CleanResult,
  type TempFileInfo,
} from "./io/atomic.ts";

// Shared streaming vocabulary
export {
  type StreamOptions,
  type Progress,
  type ProgressCallback,
  parseByteSize,
  DEFAULT_MEMORY_BUDGET,
} from "./core/streaming.ts";
export { toLayout, type Block, type BlockLayout } from "./core/sparse.ts";

// Streaming operators (issue 3) and the writers they share
export {
  SparseMatrixWriter,
  DenseMatrixWriter,
  startAnnData,
  carryOver,
  type SparseWriterOptions,
  type DenseWriterOptions,
  type CarryOverOptions,
  type CarryKey,
} from "./io/anndata/matrixWriter.ts";
export {
  iterMatrixChunks,
  normalizeTotalBlock,
  type ChunkOptions,
  type MatrixChunk,
  type NormalizeBlockOptions,
} from "./ops/chunks.ts";
export { normalizeTotalLog1p, type NormalizeOptions, type NormalizeResult } from "./ops/normalize.ts";
export { writeFilteredSubset, type SubsetOptions, type SubsetResult, type Mask } from "./ops/subset.ts";
export { dropFileCache } from "./ops/fileCache.ts";

// Screen-aware helpers (issue 4): gene symbols and names, perturbation labels, column detection
export {
  ENSEMBL_PREFIXES,
  GENE_SYMBOL_COLUMN_ALIASES,
  looksLikeEnsemblId,
  validateGeneSymbols,
  ensureGeneSymbolColumn,
  scoreGeneSymbolColumn,
  type ColumnScore,
  type ValidateGeneSymbolsOptions,
  type EnsureGeneSymbolOptions,
} from "./helpers/geneSymbols.ts";
export {
  standardizeGeneNames,
  normalizeGeneId,
  type StandardizeGeneNamesOptions,
  type StandardizeGeneNamesResult,
  type NormalizeGeneIdOptions,
  type UnmappedAction,
} from "./helpers/geneNames.ts";
export {
  lookupSymbolsMyGene,
  LookupServiceError,
  MYGENE_DEFAULT_URL,
  MYGENE_BATCH_SIZE,
  type MyGeneOptions,
} from "./helpers/myGene.ts";
export {
  readSymbolMapping,
  type SymbolMappingTable,
  type ReadSymbolMappingOptions,
} from "./helpers/geneMappingFile.ts";
export {
  normalizePerturbationLabels,
  normalizeLabels,
  labelNormalizer,
  type NormalizeLabelOptions,
  type NormalizePerturbationLabelsOptions,
  type NormalizePerturbationLabelsResult,
} from "./helpers/perturbationLabels.ts";
export {
  detectPerturbationColumn,
  detectGeneSymbolColumn,
  inferColumns,
  scorePerturbationColumn,
  scorePerturbationColumns,
  scoreGeneSymbolColumns,
  PERTURBATION_COLUMN_ALIASES,
  MAX_PERTURBATION_UNIQUE,
  type ColumnDetection,
  type DetectOptions,
  type DetectPerturbationOptions,
  type InferredColumns,
  type InferredColumnsExplained,
} from "./helpers/columnDetection.ts";

// Screen-aware helpers (issue 4): control labels, chunk planners, memory detection, overlap, adaptive QC
export {
  resolveControlLabel,
  DEFAULT_CONTROL_ALIASES,
  CONTROL_TERMS,
  type ResolveControlLabelOptions,
} from "./helpers/controlLabel.ts";
export {
  calculateOptimalChunkSize,
  calculateOptimalGeneChunkSize,
  calculateWilcoxonChunkSize,
  calculateNbGlmChunkSize,
  calculatePcaChunkSize,
  explainOptimalChunkSize,
  explainOptimalGeneChunkSize,
  explainWilcoxonChunkSize,
  explainNbGlmChunkSize,
  explainPcaChunkSize,
  type ChunkPlanExplanation,
  type PcaChunkPlanExplanation,
  type PcaChunkPlan,
  type PcaMethod,
  type PlanMemory,
  type PlannerCommonOptions,
  type OptimalChunkSizeOptions,
  type GeneChunkSizeOptions,
  type WilcoxonChunkSizeOptions,
  type NbGlmChunkSizeOptions,
  type PcaChunkSizeOptions,
} from "./helpers/chunkPlanning.ts";
export {
  estimateDenseMemoryGb,
  estimateGeneBatchSizeFitter,
  estimateMaxWorkers,
  resolveMemoryLimitBytes,
  shouldUseStreaming,
  type MaxWorkersOptions,
  type StreamingDecision,
  type StreamingDecisionOptions,
} from "./helpers/memoryEstimates.ts";
export {
  detectAvailableMemory,
  availableMemoryGb,
  cgroupMemoryLimit,
  systemAvailableMemory,
  type AvailableMemory,
  type MemoryProbeSources,
} from "./helpers/systemMemory.ts";
export {
  computeOverlap,
  type OverlapMetric,
  type OverlapOptions,
  type OverlapResult,
  type NamedSets,
} from "./helpers/overlap.ts";
export {
  calculateAdaptiveQcThresholds,
  numpyPercentileSorted,
  valueCounts,
  type AdaptiveQcOptions,
  type AdaptiveQcThresholds,
  type QcMode,
} from "./helpers/adaptiveQc.ts";
export { Mt19937, legacyChoiceWithoutReplacement } from "./helpers/numpyRandom.ts";

// Storage-format conversion, sorting by perturbation, standardised copies (issue 3, part B)
export { convertToCsc, convertToCsr, type ConvertOptions, type ConvertResult } from "./ops/convert.ts";
export {
  sortByPerturbation,
  needsSortingForNbglm,
  getPerturbationSlice,
  type SortOptions,
  type NeedsSortingOptions,
  type PerturbationSlice,
} from "./ops/sort.ts";
export { standardizeDataset, standardizedPath, type StandardizeOptions } from "./ops/standardize.ts";

// Reports and synthetic screens (issue 5): the HTML report behind `crispyx report`, and the demo's generator
export { writeReport, type ReportOptions, type ReportSummary } from "./report/html.ts";
export {
  cellMetrics,
  histogramMedian,
  type CellMetrics,
  type CellMetricsOptions,
  type Histogram,
} from "./report/cellMetrics.ts";
export {
  summarizeDe,
  type DeSummary,
  type DeSummaryOptions,
  type GroupSummary,
  type TopGene,
} from "./report/deSummary.ts";
export {
  syntheticScreen,
  syntheticAnnData,
  DEFAULT_SCREEN,
  CONTROL_LABEL,
  type ScreenSpec,
  type SyntheticScreen,
} from "./demo/synthetic.ts";
export { writeSyntheticScreen } from "./demo/write.ts";
export { runDemo, type DemoOptions, type DemoResult } from "./demo/run.ts";

// Quality control (issue 6, part 1): the seed's quality_control_summary, streamed
export {
  qcSummary,
  qcSummaryPath,
  QC_DEFAULTS,
  QC_SUMMARY_KEY,
  type QcOptions,
  type QcResult,
  type QcThresholds,
  type QcCounts,
  type QcArrays,
} from "./qc/qcSummary.ts";
export type { CellQcMetrics } from "./qc/metrics.ts";
export type { PerturbationCount } from "./qc/filters.ts";

// Differential expression (issue 6, part 2): Scanpy-compatible t-test / Wilcoxon of every perturbation vs control
export {
  rankGenesGroups,
  type RankGenesGroupsOptions,
  type RankGenesGroupsResult,
  type DeMethod,
} from "./de/rankGenesGroups.ts";
// The DE-method registry: a method is one declaration (src/de/methods/registry.ts has the checklist)
export {
  deMethods,
  deMethodNames,
  registerDeMethod,
  type DeMethodSpec,
  type DeMethodKernels,
} from "./de/methods/registry.ts";
export type { DeExtraColumn, DeInput } from "./de/methods/types.ts";
export type { SkippedGroup } from "./de/groups.ts";
// One perturbation's ranked table from a DE result, either ranked-table layout (issue 21)
export { rankGenesGroupsDf, type RankedGroupTable } from "./de/resultTable.ts";
export type { RankedLayout } from "./de/output.ts";
export { planDeBatches, type DeBatchPlan } from "./de/batchedRun.ts";
// NB-GLM options and pseudo-bulk (issue 13)
export type { NbGlmOptions } from "./de/nbGlm/run.ts";
export { pseudobulk, type PseudobulkOptions, type PseudobulkResult } from "./de/pseudobulk.ts";
export {
  normalSf,
  normalTwoSidedP,
  studentTSf,
  studentTTwoSidedP,
  benjaminiHochberg,
  bonferroni,
  tieCorrect,
} from "./stats/index.ts";
export type { RecArray, RecArrayField } from "./io/anndata/model.ts";

// Old spellings (British -ise), kept so existing code keeps working; the API spells -ize, as Scanpy does.
import {
  standardizeGeneNames as _standardizeGeneNames,
  normalizeGeneId as _normalizeGeneId,
} from "./helpers/geneNames.ts";
import {
  normalizePerturbationLabels as _normalizePerturbationLabels,
  normalizeLabels as _normalizeLabels,
  labelNormalizer as _labelNormalizer,
} from "./helpers/perturbationLabels.ts";
/** @deprecated use standardizeGeneNames */
export const standardiseGeneNames = _standardizeGeneNames;
/** @deprecated use normalizeGeneId */
export const normaliseGeneId = _normalizeGeneId;
/** @deprecated use normalizePerturbationLabels */
export const normalisePerturbationLabels = _normalizePerturbationLabels;
/** @deprecated use normalizeLabels */
export const normaliseLabels = _normalizeLabels;
/** @deprecated use labelNormalizer */
export const labelNormaliser = _labelNormalizer;
