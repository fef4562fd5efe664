/** Public surface of @writeback/directory: the Directory interface and its adapters. */
export * from './directory.js';
export * from './errors.js';
export * from './embedded/index.js';
export * from './ad/index.js';
export * from './doctor.js';
export * from './openldap/index.js';
export * from './factory.js';
