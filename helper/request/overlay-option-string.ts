/**
 * The overlay option words for a request's typed choices: fixed words from the
 * option table (helper/api/overlay-options.ts), never text from the request.
 * tsov-mount gets them as --flag/--set arguments (and checks them against its
 * own list again); the journal records them with the layer paths as mountinfo
 * shows them.
 */
export { choiceWords as choiceOptions } from '../api/overlay-options';
