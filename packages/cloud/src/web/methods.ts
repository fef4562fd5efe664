/**
 * Moved: registered methods are read through usecases/methods/registered.ts (over the
 * store/user-methods.ts repository). Kept only for web/write.ts until it moves to usecases/.
 */
export { getMethods } from '../usecases/methods/registered.js';
