// The attribution rule lives in lib/model/attribution.ts (the rollup builder uses its SQL form too).
export { attributionFrame, attributionFrameSql, isUserFunction, packageOf } from '../model/attribution';
