export * from './targets';
export * from './schedule';
export * from './fetch';
export * from './round';
export * from './process';
