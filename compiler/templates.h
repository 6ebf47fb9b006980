/* templates.h — the C text the emitter fills (the templates/ files NAME.in, embedded).
 * A template is plain C with holes `{{name}}`; tmpl_fill replaces each hole
 * with the value bound to that name.  The parts_*.in files hold the small
 * pieces (a line, a field, a call) as named snippets.  No loops or conditionals: the emitter
 * composes repeated parts (one per layer, one per dispatch point) itself, so
 * every template stays readable as the C it will become.
 */
#ifndef XFC_TEMPLATES_H
#define XFC_TEMPLATES_H

#include "strbuf.h"

typedef struct Template {
    const char *name; /* file name without .in, e.g. "model.c" */
    const char *text;
} Template;

extern const Template xf_templates[]; /* ends with {NULL, NULL} */

/* The template called `name`; aborts if there is none (a build bug). */
const char *tmpl_get(const char *name);

/* The template or snippet `name` ("FILE" or "FILE/SNIPPET", see fill.c) and its length. */
const char *tmpl_get_n(const char *name, size_t *len);

/* Appends `tmpl` to out with every {{key}} replaced by its value; `kv` is
 * key, value, key, value, …, NULL.  A hole with no binding aborts. */
void tmpl_fill(StrBuf *out, const char *tmpl, const char *const *kv);
void tmpl_fill_n(StrBuf *out, const char *tmpl, size_t n, const char *const *kv);

#endif /* XFC_TEMPLATES_H */
