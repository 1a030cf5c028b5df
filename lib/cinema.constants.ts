/** Injection token of the resolved module options. */
export const CINEMA_MODULE_OPTIONS = Symbol('CINEMA_MODULE_OPTIONS');
/** Class metadata written by `@Projection()`. */
export const PROJECTION_METADATA = 'cinema:projection';
/** Method metadata written by `@Input()`. */
export const INPUT_METADATA = 'cinema:input';
/** The alias under which every lens-filtered query exposes its columns. */
export const LENS_ALIAS = 'src';
/** Lens key holding a custom reducer; never treated as a column. */
export const LENS_REDUCER_KEY = '$reduce';
