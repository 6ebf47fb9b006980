/* ast.h — the spec as written: what the parser builds, with positions.
 *
 *   spec      := model_decl listener*
 *   model_decl:= "model" IDENT ":" IDENT "{" (setting | block)* "}"
 *   block     := IDENT "{" setting* "}"             (encoder { … } / decoder { … })
 *   setting   := IDENT "=" value
 *   listener  := "listen" filter "->" handler
 *
 * Nothing is checked here beyond syntax; check.c gives it meaning.
 * Every node is allocated with ast_alloc and freed all at once (ast_free_all).
 */
#ifndef XFC_AST_H
#define XFC_AST_H

#include "diag.h"

/* The value of a setting or of a handler argument, as written. */
typedef enum {
    VAL_INT,     /* 4, -1            (i; overflow set when it did not fit) */
    VAL_FLOAT,   /* 1e-5, 0.125      (f) */
    VAL_BOOL,    /* true, false      (i = 0/1) */
    VAL_STRING,  /* "causal-linear"  (s, escapes resolved) */
    VAL_IDENT,   /* relu, all        (s) */
} ValKind;

typedef struct Value {
    ValKind kind;
    Loc loc;
    long long i;
    double f;
    char *s;
    int overflow;        /* integer literal out of range of long long */
} Value;

typedef struct Setting {
    char *name;
    Loc loc;             /* of the name */
    Value val;
    struct Setting *next;
} Setting;

/* `encoder { … }` / `decoder { … }` inside a Transformer model. */
typedef struct Block {
    char *name;
    Loc loc;
    Setting *settings;
    struct Block *next;
} Block;

typedef struct ModelDecl {
    char *name;  Loc name_loc;    /* model NAME : … */
    char *kind;  Loc kind_loc;    /* … : TransformerEncoder */
    Setting *settings;            /* in file order */
    Block *blocks;                /* in file order */
} ModelDecl;

/* Integer expressions inside a predicate filter `(EXPR)`. */
typedef enum {
    EX_NUM,      /* 100                      (num) */
    EX_NAME,     /* layer                    (name) */
    EX_DIM,      /* attention_matrix.shape[2] (name = field, num = index) */
    EX_NEG,      /* -lhs */
    EX_ADD, EX_SUB, EX_MUL,
    EX_EQ, EX_NE, EX_LT, EX_LE, EX_GT, EX_GE,
} ExprKind;

typedef struct Expr {
    ExprKind kind;
    Loc loc;
    long long num;
    char *name;
    struct Expr *lhs, *rhs;
} Expr;

/* Event filters, composed with & | ~ (fast-transformers' EventFilter). */
typedef enum {
    FL_CLASS,         /* AttentionEvent / event_class(AttentionEvent) (name) */
    FL_FROM_LAYER,    /* from_layer(layers[2].attention)  (name = "layers.2.attention") */
    FL_WITHIN,        /* within(layers[2])                 (name = "layers.2") */
    FL_NAME_CONTAINS, /* layer_name_contains("layers.1")  (name) */
    FL_PRED,          /* (attention_matrix.shape[2] == 100) (expr) */
    FL_AND, FL_OR,    /* lhs & rhs, lhs | rhs */
    FL_NOT,           /* ~lhs */
} FilterKind;

typedef struct Filter {
    FilterKind kind;
    Loc loc;
    char *name;
    Expr *expr;
    struct Filter *lhs, *rhs;
} Filter;

/* One argument of a handler call: positional (name NULL) or `name = value`. */
typedef struct Arg {
    char *name;  Loc loc;
    Value val;
    struct Arg *next;
} Arg;

typedef struct ListenDecl {
    Loc loc;                 /* of the `listen` keyword */
    Filter *filter;
    char *handler; Loc handler_loc;  /* save, heatmap, stats, print, call, figure */
    Arg *args;               /* in order, NULL for a bare handler */
    struct ListenDecl *next;
} ListenDecl;

typedef struct Spec {
    ModelDecl *model;        /* NULL if the file declares none (an error in check) */
    ListenDecl *listeners;   /* in file order */
} Spec;

/* Parses src into *out.  Syntax errors go through diag_error (the parser
 * recovers at the next `listen`/`model` to report more than one); returns
 * the number of errors. */
int parse_spec(const Src *src, Spec *out);

void *ast_alloc(size_t size);          /* zeroed; aborts on out-of-memory */
char *ast_strdup(const char *s);
void ast_free_all(void);

#endif /* XFC_AST_H */
