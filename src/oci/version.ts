/**
 * The runtime-spec versions proxrun implements: the state JSON's `ociVersion`, `--version`'s
 * `spec:` line and the `features` range all read them from here.
 */
export const SPEC_VERSION = '1.3.0';
/** The oldest runtime-spec version whose configs proxrun accepts (the `features` range's low end). */
export const SPEC_VERSION_MIN = '1.0.0';
