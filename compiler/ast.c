/* ast.c — the arena every AST node lives in, and the node constructors the
 * grammar actions call (grammar/xf.y keeps each action to one line).
 *
 * Constructors check what the grammar alone cannot express: which filter
 * functions exist, `FIELD.shape[INT]`, integer overflow inside predicates,
 * nesting depth (AST_MAX_DEPTH) and name length (AST_MAX_NAME).  Meaning
 * (which settings, classes, fields, handlers exist) is check.c's business.
 */
#include "ast.h"
#include "alloc.h"
#include "names.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ------------------------------------------------------------ */

/* Each allocation is preceded by a header linking it to the previous one. */
typedef union Chunk {
    union Chunk *next;
    max_align_t align;
} Chunk;

static Chunk *chunks;

void *ast_alloc(size_t size) {
    if (size > (size_t)-1 - sizeof(Chunk))
        out_of_memory();
    Chunk *c = xcalloc(1, sizeof(Chunk) + size);
    c->next = chunks;
    chunks = c;
    return c + 1;
}

char *ast_strdup(const char *s) {
    size_t n = strlen(s);
    char *d = ast_alloc(n + 1);
    memcpy(d, s, n);
    return d;
}

void ast_free_all(void) {
    while (chunks) {
        Chunk *next = chunks->next;
        free(chunks);
        chunks = next;
    }
}

/* ---- settings, blocks, model ------------------------------------------ */

/* value := "-" INT | "-" FLOAT */
Value ast_value_neg(Value v, Loc minus) {
    if (v.kind == VAL_INT && !v.overflow)
        v.i = -v.i;
    else if (v.kind == VAL_FLOAT)
        v.f = -v.f;
    v.loc = minus;
    return v;
}

/* value := IDENT "(" STRING ")" */
Value ast_value_call(char *fn, Loc loc, char *arg) {
    Value v = {.kind = VAL_CALL, .loc = loc, .s = fn, .arg = arg};
    return v;
}

/* setting := IDENT "=" value */
Setting *ast_setting(char *name, Loc loc, Value v, Setting *rev_list) {
    Setting *s = ast_alloc(sizeof *s);
    s->name = name;
    s->loc = loc;
    s->val = v;
    s->next = rev_list;
    return s;
}

static Setting *reverse_settings(Setting *s) {
    Setting *out = NULL;
    while (s) {
        Setting *next = s->next;
        s->next = out;
        out = s;
        s = next;
    }
    return out;
}

static Block *reverse_blocks(Block *b) {
    Block *out = NULL;
    while (b) {
        Block *next = b->next;
        b->next = out;
        out = b;
        b = next;
    }
    return out;
}

/* block := IDENT "{" (setting | block)* "}" */
Block *ast_block(char *name, Loc loc, Setting *rev_settings, Block *rev_blocks, Block *rev_list) {
    Block *b = ast_alloc(sizeof *b);
    b->name = name;
    b->loc = loc;
    b->settings = reverse_settings(rev_settings);
    b->blocks = reverse_blocks(rev_blocks);
    b->next = rev_list;
    return b;
}

/* model_decl := "model" IDENT ":" IDENT "{" (setting | block)* "}" */
ModelDecl *ast_model(char *name, Loc name_loc, char *kind, Loc kind_loc, Setting *rev_settings,
                     Block *rev_blocks) {
    ModelDecl *m = ast_alloc(sizeof *m);
    m->name = name;
    m->name_loc = name_loc;
    m->kind = kind;
    m->kind_loc = kind_loc;
    m->settings = reverse_settings(rev_settings);
    m->blocks = reverse_blocks(rev_blocks);
    return m;
}

/* ---- listeners --------------------------------------------------------- */

/* arg := value | IDENT "=" value */
Arg *ast_arg(char *name, Loc loc, Value v, Arg *rev_list) {
    Arg *a = ast_alloc(sizeof *a);
    a->name = name;
    a->loc = loc;
    a->val = v;
    a->next = rev_list;
    return a;
}

Arg *ast_args_finish(Arg *rev_list) {
    Arg *out = NULL;
    while (rev_list) {
        Arg *next = rev_list->next;
        rev_list->next = out;
        out = rev_list;
        rev_list = next;
    }
    return out;
}

/* listener := "listen" filter "->" handler */
ListenDecl *ast_listen(Loc loc, Filter *f, char *handler, Loc handler_loc, Arg *args) {
    ListenDecl *l = ast_alloc(sizeof *l);
    l->loc = loc;
    l->filter = f;
    l->handler = handler;
    l->handler_loc = handler_loc;
    l->args = args;
    return l;
}

/* ---- module paths: layers[2].attention -> "layers.2.attention" --------- */

/* A path longer than AST_MAX_NAME stops growing at AST_MAX_NAME + 1 bytes;
 * ast_filter_call reports it (once, at the path) and cuts it back. */
static char *path_join(char *path, const char *tail) {
    size_t a = strlen(path), b = strlen(tail);
    if (a > AST_MAX_NAME)
        return path;
    size_t n = a + 1 + b > AST_MAX_NAME ? AST_MAX_NAME + 1 : a + 1 + b;
    char *s = ast_alloc(n + 1);
    memcpy(s, path, a);
    if (a < n)
        s[a] = '.';
    if (a + 1 < n)
        memcpy(s + a + 1, tail, n - a - 1 < b ? n - a - 1 : b);
    return s;
}

/* path := path "." IDENT */
char *ast_path_field(char *path, char *field) {
    return path_join(path, field);
}

/* path := path "[" INT "]" */
char *ast_path_index(char *path, Value index) {
    char num[32];
    if (index.overflow) {
        diag_error(index.loc, "layer index too large");
        return path;
    }
    snprintf(num, sizeof num, "%lld", index.i);
    return path_join(path, num);
}

/* ---- filters ------------------------------------------------------------ */

static const char *const filter_functions[] = {
    "event_class", "from_layer", "within", "layer_name_contains", NULL,
};

static Filter *filter_new(FilterKind k, Loc loc) {
    Filter *f = ast_alloc(sizeof *f);
    f->kind = k;
    f->loc = loc;
    f->depth = 1;
    return f;
}

/* primary := IDENT */
Filter *ast_filter_class(char *name, Loc loc) {
    Filter *f = filter_new(FL_CLASS, loc);
    f->name = name;
    return f;
}

/* primary := IDENT "(" (path | STRING) ")" */
Filter *ast_filter_call(char *fn, Loc fn_loc, char *arg, Loc arg_loc, int is_string) {
    if (strlen(arg) > AST_MAX_NAME) {
        diag_error(arg_loc, "module path too long (more than %d bytes)", AST_MAX_NAME);
        arg[AST_MAX_NAME] = '\0';
    }
    if (strcmp(fn, "event_class") == 0) {
        if (is_string || !name_is_identifier(arg))
            diag_error(
                arg_loc,
                "event_class takes the name of an event class, e.g. event_class(AttentionEvent)");
        return ast_filter_class(arg, arg_loc);
    }
    FilterKind k;
    if (strcmp(fn, "from_layer") == 0) {
        k = FL_FROM_LAYER;
    } else if (strcmp(fn, "within") == 0) {
        k = FL_WITHIN;
    } else if (strcmp(fn, "layer_name_contains") == 0) {
        k = FL_NAME_CONTAINS;
        if (!is_string)
            diag_error(arg_loc,
                       "layer_name_contains takes a string: write layer_name_contains(\"%s\")",
                       arg);
    } else {
        unknown(fn_loc, 0, fn, filter_functions, "'%s'",
                " (expected event_class, from_layer, within or layer_name_contains)", DOC_FILTERS,
                "unknown filter '%s'", fn);
        k = FL_FROM_LAYER;
    }
    Filter *f = filter_new(k, fn_loc);
    f->name = arg;
    return f;
}

/* Nesting: a node one level above `d` levels.  Subtrees already over the
 * limit (reported once) carry depth AST_MAX_DEPTH + 1 and are passed up
 * unchanged, so the tree kept is never deeper than the limit. */
#define OVER (AST_MAX_DEPTH + 1)

static void too_deep(Loc at) {
    diag_error(at, "filter nested too deeply (more than %d levels)", AST_MAX_DEPTH);
}

/* The depth of a node at `op` over children of depths a and b (b = 0: one
 * child); OVER when a child is already over the limit or this node would be
 * (then reported here, once). */
static int node_depth(int a, int b, Loc op) {
    if (a >= OVER || b >= OVER)
        return OVER;
    int d = 1 + (a > b ? a : b);
    if (d > AST_MAX_DEPTH) {
        too_deep(op);
        return OVER;
    }
    return d;
}

/* primary := arith cmp arith */
Filter *ast_filter_pred(Expr *cmp, Loc start) {
    Filter *f = filter_new(FL_PRED, start);
    f->expr = cmp;
    f->depth = node_depth(cmp->depth, 0, start);
    return f;
}

/* or := or "|" and;  and := and "&" unary */
Filter *ast_filter_bin(FilterKind k, Filter *lhs, Filter *rhs, Loc op) {
    int d = node_depth(lhs->depth, rhs->depth, op);
    if (d >= OVER) {
        lhs->depth = OVER; /* the subtree passed up, never deeper than the limit */
        return lhs;
    }
    Filter *f = filter_new(k, op);
    f->lhs = lhs;
    f->rhs = rhs;
    f->depth = d;
    return f;
}

/* unary := "~" unary */
Filter *ast_filter_not(Filter *inner, Loc op) {
    int d = node_depth(inner->depth, 0, op);
    if (d >= OVER) {
        inner->depth = OVER;
        return inner;
    }
    Filter *f = filter_new(FL_NOT, op);
    f->lhs = inner;
    f->depth = d;
    return f;
}

/* ---- predicate expressions ------------------------------------------- */

static Expr *expr_new(ExprKind k, Loc loc) {
    Expr *e = ast_alloc(sizeof *e);
    e->kind = k;
    e->loc = loc;
    e->depth = 1;
    return e;
}

/* atom := INT */
Expr *ast_expr_num(Value v) {
    Expr *e = expr_new(EX_NUM, v.loc);
    if (v.overflow)
        diag_error(v.loc, "integer literal too large (does not fit in 64 bits)");
    else
        e->num = v.i;
    return e;
}

/* atom := IDENT */
Expr *ast_expr_name(char *name, Loc loc) {
    Expr *e = expr_new(EX_NAME, loc);
    e->name = name;
    return e;
}

/* atom := IDENT "." IDENT "[" INT "]"        (attention_matrix.shape[2]) */
Expr *ast_expr_dim(char *field, Loc loc, char *shape, Loc shape_loc, Value index) {
    Expr *e = expr_new(EX_DIM, loc);
    e->name = field;
    e->idx_loc = index.loc;
    if (strcmp(shape, "shape") != 0)
        diag_error(shape_loc, "expected 'shape' after '%s.' (as in %s.shape[0])", field, field);
    if (index.overflow)
        diag_error(index.loc, "shape index too large");
    else
        e->num = index.i;
    return e;
}

/* arith := arith ("+" | "-") term;  term := term "*" factor;  pred := arith cmp arith */
Expr *ast_expr_bin(ExprKind k, Expr *lhs, Expr *rhs, Loc op) {
    int d = node_depth(lhs->depth, rhs->depth, op);
    if (d >= OVER) {
        lhs->depth = OVER;
        return lhs;
    }
    Expr *e = expr_new(k, op);
    e->lhs = lhs;
    e->rhs = rhs;
    e->depth = d;
    return e;
}

/* factor := "-" factor */
Expr *ast_expr_neg(Expr *inner, Loc op) {
    int d = node_depth(inner->depth, 0, op);
    if (d >= OVER) {
        inner->depth = OVER;
        return inner;
    }
    Expr *e = expr_new(EX_NEG, op);
    e->lhs = inner;
    e->depth = d;
    return e;
}
