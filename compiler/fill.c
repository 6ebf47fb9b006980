/* fill.c — fills the templates/ files (NAME.in): every {{key}} becomes its bound value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "templates.h"

const char *tmpl_get(const char *name) {
    for (const Template *t = xf_templates; t->name; t++)
        if (!strcmp(t->name, name))
            return t->text;
    fprintf(stderr, "xfc: internal error: no template '%s'\n", name);
    abort();
}

static const char *lookup(const char *const *kv, const char *key, size_t len) {
    for (; kv[0]; kv += 2)
        if (strlen(kv[0]) == len && !strncmp(kv[0], key, len))
            return kv[1];
    return NULL;
}

void tmpl_fill(StrBuf *out, const char *tmpl, const char *const *kv) {
    const char *p = tmpl;
    for (;;) {
        const char *open = strstr(p, "{{");
        if (!open) {
            sb_puts(out, p);
            return;
        }
        const char *close = strstr(open + 2, "}}");
        if (!close) {
            fprintf(stderr, "xfc: internal error: unclosed {{ in template\n");
            abort();
        }
        StrBuf lit;
        sb_init(&lit);
        sb_printf(&lit, "%.*s", (int)(open - p), p);
        sb_puts(out, lit.s);
        sb_free(&lit);
        const char *val = lookup(kv, open + 2, (size_t)(close - open - 2));
        if (!val) {
            fprintf(stderr, "xfc: internal error: template hole {{%.*s}} unbound\n",
                    (int)(close - open - 2), open + 2);
            abort();
        }
        sb_puts(out, val);
        p = close + 2;
    }
}
