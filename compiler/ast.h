/* ast.h — the spec as written: what the parser builds, with positions.
 *
 *   spec      := model_decl listener*
 *   model_decl:= "model" IDENT ":" IDENT "{" (setting | block)* "}"
 *   block     := IDENT "{" (setting | block)* "}"   (encoder { embedding { … } }, head { … })
 *   setting   := IDENT "=" value
 *   listener  := "listen" filter "->" handler
 *
 * Nothing is checked here beyond syntax; check.c gives it meaning.
 * Every node is allocated with ast_alloc and freed all at once (ast_free_all).
 */
#ifndef XFC_AST_H
#define XFC_AST_H

#include "diag.h"

/* Limits the parser enforces (clear errors), so later passes may recurse
 * over filters and expressions and copy names into fixed buffers. */
#define AST_MAX_DEPTH 64   /* nesting of filters / expressions */
#define AST_MAX_NAME  4096 /* bytes in an identifier, string or module path */

/* The value of a setting or of a handler argument, as written. */
typedef enum {
    VAL_INT,    /* 4, -1            (i; overflow set when it did not fit) */
    VAL_FLOAT,  /* 1e-5, 0.125      (f) */
    VAL_BOOL,   /* true, false      (i = 0/1) */
    VAL_STRING, /* "causal-linear"  (s, escapes resolved) */
    VAL_IDENT,  /* relu, all        (s) */
    VAL_CALL,   /* learned("pos.weight")  (s = learned, arg = pos.weight) */
} ValKind;

typedef struct Value {
    ValKind kind;
    Loc loc;
    long long i;
    double f;
    char *s;
    char *arg;    /* VAL_CALL: the string argument */
    int overflow; /* integer literal out of range of long long */
} Value;

typedef struct Setting {
    char *name;
    Loc loc; /* of the name */
    Value val;
    struct Setting *next;
} Setting;

/* `encoder { … }` / `decoder { … }` inside a Transformer model, and
 * `embedding { … }` / `head { … }` inside a model or a stack block. */
typedef struct Block {
    char *name;
    Loc loc;
    Setting *settings;
    struct Block *blocks; /* nested blocks, in file order */
    struct Block *next;
} Block;

typedef struct ModelDecl {
    char *name;
    Loc name_loc; /* model NAME : … */
    char *kind;
    Loc kind_loc;      /* … : TransformerEncoder */
    Setting *settings; /* in file order */
    Block *blocks;     /* in file order */
} ModelDecl;

/* Integer expressions inside a predicate filter `(EXPR)`. */
typedef enum {
    EX_NUM,  /* 100                      (num) */
    EX_NAME, /* layer                    (name) */
    EX_DIM,  /* attention_matrix.shape[2] (name = field, num = index) */
    EX_NEG,  /* -lhs */
    EX_ADD,
    EX_SUB,
    EX_MUL,
    EX_EQ,
    EX_NE,
    EX_LT,
    EX_LE,
    EX_GT,
    EX_GE,
} ExprKind;

typedef struct Expr {
    ExprKind kind;
    Loc loc; /* leaves: the token; operators: the operator */
    long long num;
    char *name;
    struct Expr *lhs, *rhs;
    Loc idx_loc; /* EX_DIM: of the index (errors about it point there) */
    int depth;   /* height of this subtree, 1 for a leaf; <= AST_MAX_DEPTH */
} Expr;

/* Event filters, composed with & | ~ (fast-transformers' EventFilter). */
typedef enum {
    FL_CLASS,         /* AttentionEvent / event_class(AttentionEvent) (name) */
    FL_FROM_LAYER,    /* from_layer(layers[2].attention)  (name = "layers.2.attention") */
    FL_WITHIN,        /* within(layers[2])                 (name = "layers.2") */
    FL_NAME_CONTAINS, /* layer_name_contains("layers.1")  (name) */
    FL_PRED,          /* (attention_matrix.shape[2] == 100) (expr) */
    FL_AND,
    FL_OR,  /* lhs & rhs, lhs | rhs */
    FL_NOT, /* ~lhs */
} FilterKind;

typedef struct Filter {
    FilterKind kind;
    Loc loc; /* FL_CLASS: the class name; calls: the function name;
                            FL_PRED: start of the comparison; & | ~: the operator */
    char *name;
    Expr *expr;
    struct Filter *lhs, *rhs;
    int depth; /* height, counting a predicate's expression; <= AST_MAX_DEPTH */
} Filter;

/* One argument of a handler call: positional (name NULL) or `name = value`. */
typedef struct Arg {
    char *name;
    Loc loc;
    Value val;
    struct Arg *next;
} Arg;

typedef struct ListenDecl {
    Loc loc; /* of the `listen` keyword */
    Filter *filter;
    char *handler;
    Loc handler_loc; /* save, heatmap, stats, print, call, figure */
    Arg *args;       /* in order, NULL for a bare handler */
    struct ListenDecl *next;
} ListenDecl;

typedef struct Spec {
    ModelDecl *model;      /* NULL if the file declares none (an error in check) */
    ListenDecl *listeners; /* in file order */
} Spec;

/* Parses src into *out.  Syntax errors go through diag_error (the parser
 * recovers at the next `listen`/`model` to report more than one); returns
 * the number of errors. */
int parse_spec(const Src *src, Spec *out);

void *ast_alloc(size_t size); /* zeroed; out of memory exits (alloc.h) */
char *ast_strdup(const char *s);
/* Frees every node and string from ast_alloc/ast_strdup (also the Model's
 * listener array, which check_spec allocates the same way). */
void ast_free_all(void);

/* Node constructors for grammar/xf.y (one per action; each reports its own
 * problems through diag_error).  Lists are built in reverse while parsing
 * and put in file order by the *_finish / ast_block / ast_model calls. */
Value ast_value_neg(Value v, Loc minus);            /* "-" INT | "-" FLOAT */
Value ast_value_call(char *fn, Loc loc, char *arg); /* IDENT "(" STRING ")" */
Setting *ast_setting(char *name, Loc loc, Value v, Setting *rev_list);
Block *ast_block(char *name, Loc loc, Setting *rev_settings, Block *rev_blocks, Block *rev_list);
ModelDecl *ast_model(char *name, Loc name_loc, char *kind, Loc kind_loc, Setting *rev_settings,
                     Block *rev_blocks);
Arg *ast_arg(char *name, Loc loc, Value v, Arg *rev_list); /* name NULL: positional */
Arg *ast_args_finish(Arg *rev_list);
ListenDecl *ast_listen(Loc loc, Filter *f, char *handler, Loc handler_loc, Arg *args);

char *ast_path_field(char *path, char *field); /* path "." IDENT */
char *ast_path_index(char *path, Value index); /* path "[" INT "]" */

Filter *ast_filter_class(char *name, Loc loc); /* AttentionEvent */
/* fn(arg): event_class / from_layer / within / layer_name_contains; arg is a
 * module path (as a dotted string) or a string literal (is_string). */
Filter *ast_filter_call(char *fn, Loc fn_loc, char *arg, Loc arg_loc, int is_string);
Filter *ast_filter_pred(Expr *cmp, Loc start);
Filter *ast_filter_bin(FilterKind k, Filter *lhs, Filter *rhs, Loc op);
Filter *ast_filter_not(Filter *f, Loc op);

Expr *ast_expr_num(Value v);
Expr *ast_expr_name(char *name, Loc loc); /* layer */
Expr *ast_expr_dim(char *field, Loc loc, char *shape, Loc shape_loc, Value index);
Expr *ast_expr_bin(ExprKind k, Expr *lhs, Expr *rhs, Loc op);
Expr *ast_expr_neg(Expr *e, Loc op);

#endif /* XFC_AST_H */
