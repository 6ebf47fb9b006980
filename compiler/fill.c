/* fill.c — fills the templates/ files (NAME.in): every {{key}} becomes its bound value.
 * A parts file holds named snippets: `@@ NAME` starts a block of whole lines
 * (up to the next `@@`), `@@ NAME ~` the same block without its last newline,
 * `@@ NAME = text` a one-line piece without its newline; "FILE/NAME" names
 * snippet NAME of FILE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "templates.h"

static const char *whole(const char *name) {
    for (const Template *t = xf_templates; t->name; t++)
        if (!strcmp(t->name, name))
            return t->text;
    return NULL;
}

static void missing(const char *name) {
    fprintf(stderr, "xfc: internal error: no template '%s'\n", name);
    abort();
}

/* Snippet `snip` of the parts file `text`: its start and length. */
static const char *snippet(const char *text, const char *snip, size_t *len) {
    size_t n = strlen(snip);
    for (const char *line = text; line; line = strchr(line, '\n')) {
        line += *line == '\n';
        if (strncmp(line, "@@ ", 3) || strncmp(line + 3, snip, n))
            continue;
        const char *after = line + 3 + n, *s, *e;
        if (!strncmp(after, " = ", 3)) { /* one line, without its newline */
            s = after + 3, e = strchr(s, '\n');
            *len = e ? (size_t)(e - s) : strlen(s);
            return s;
        }
        int chomp = !strncmp(after, " ~\n", 3); /* a block without its last newline */
        after += chomp ? 2 : 0;
        if (*after != '\n')
            continue; /* a longer name */
        s = after + 1, e = strstr(after, "\n@@ ");
        *len = e ? (size_t)(e + 1 - s) : strlen(s);
        if (chomp && *len && s[*len - 1] == '\n')
            (*len)--;
        return s;
    }
    return NULL;
}

const char *tmpl_get_n(const char *name, size_t *len) {
    const char *slash = strchr(name, '/');
    if (!slash) {
        const char *t = whole(name);
        if (!t)
            missing(name);
        *len = strlen(t);
        return t;
    }
    char file[128];
    snprintf(file, sizeof file, "%.*s", (int)(slash - name), name);
    const char *t = whole(file), *s = t ? snippet(t, slash + 1, len) : NULL;
    if (!s)
        missing(name);
    return s;
}

const char *tmpl_get(const char *name) {
    size_t len;
    const char *t = tmpl_get_n(name, &len);
    if (strchr(name, '/')) {
        fprintf(stderr, "xfc: internal error: '%s' is a snippet (tmpl_get_n)\n", name);
        abort();
    }
    return t;
}

static const char *lookup(const char *const *kv, const char *key, size_t len) {
    for (; kv[0]; kv += 2)
        if (strlen(kv[0]) == len && !strncmp(kv[0], key, len))
            return kv[1];
    return NULL;
}

void tmpl_fill_n(StrBuf *out, const char *tmpl, size_t n, const char *const *kv) {
    const char *p = tmpl, *end = tmpl + n;
    while (p < end) {
        const char *open = p;
        while (open + 1 < end && !(open[0] == '{' && open[1] == '{'))
            open++;
        if (open + 1 >= end) {
            sb_printf(out, "%.*s", (int)(end - p), p);
            return;
        }
        const char *close = open + 2;
        while (close + 1 < end && !(close[0] == '}' && close[1] == '}'))
            close++;
        if (close + 1 >= end) {
            fprintf(stderr, "xfc: internal error: unclosed {{ in template\n");
            abort();
        }
        sb_printf(out, "%.*s", (int)(open - p), p);
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

void tmpl_fill(StrBuf *out, const char *tmpl, const char *const *kv) {
    tmpl_fill_n(out, tmpl, strlen(tmpl), kv);
}
