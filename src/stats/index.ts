export { normalSf, normalTwoSidedP, studentTSf, studentTTwoSidedP } from "./distributions.ts";
export { benjaminiHochberg, bonferroni } from "./multipleTesting.ts";
export { tieCorrect, tieCorrectionFactor, tieTerm } from "./ties.ts";
export { argsortFloat64 } from "./argsort.ts";
