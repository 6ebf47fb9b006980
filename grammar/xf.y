/* xf.y — the syntax of a spec (docs/SPEC.md §2).  Tokens come from xf.l.
 *
 *   spec      := (model_decl | listener)*        (check.c wants exactly one model)
 *   model_decl:= "model" IDENT ":" IDENT "{" body "}"
 *   body      := (setting | block)*
 *   block     := IDENT "{" body "}"             (encoder { embedding { … } })
 *   setting   := IDENT "=" value;  value := … | IDENT "(" STRING ")"   (learned("pos.weight"))
 *   listener  := "listen" filter "->" handler
 *   filter    := filter "|" conj | conj          (& binds tighter than |,
 *   conj      := conj "&" unary | unary           ~ tighter than both)
 *   unary     := "~" unary | primary
 *   primary   := IDENT | IDENT "(" (path | STRING) ")" | "(" filter ")" | arith cmp arith
 *   arith     := arith ("+"|"-") term | term;  term := term "*" factor | factor
 *   factor    := "-" factor | INT | IDENT | IDENT "." IDENT "[" INT "]"
 *   path      := IDENT | path "." IDENT | path "[" INT "]"
 *   handler   := IDENT | IDENT "(" [arg ("," arg)*] ")";  arg := value | IDENT "=" value
 *
 * Every action is one line: node construction lives in compiler/ast.c, the
 * few things that need the parse state below the grammar.  A syntax error is
 * reported once and the parser skips to the next `listen` / `model`, so one
 * run reports every broken statement.  Nesting of "(", "~" and unary "-" is
 * limited to AST_MAX_DEPTH, which also bounds the parser's stack.
 */
%define api.pure full
%define api.token.prefix {TOK_}
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%param {yyscan_t scanner}
%parse-param {ParseCtx *pc}

%code requires {
#include "ast.h"

#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif

/* What the scanner and the parser share during one parse_spec call. */
typedef struct ParseCtx {
    const Src *src;
    Spec *spec;
    ListenDecl **tail;       /* where the next listener goes */
    int line, col;           /* scanner position, 1-based */
    Loc str_start;           /* opening quote of the string being scanned */
    char *buf;               /* the string being scanned (malloc'd) */
    size_t len, cap;
    int str_too_long;
    char tok[48];            /* text of the last identifier/number, for messages */
    int nest;                /* open "(" "~" and unary "-" in the current filter */
} ParseCtx;

/* The body of a model while it is being parsed (lists in reverse). */
typedef struct Body { Setting *settings; Block *blocks; } Body;
typedef struct HandlerSyn { char *name; Loc loc; Arg *args; } HandlerSyn;
typedef struct FilterArg { char *s; Loc loc; int is_string; } FilterArg;
}

%code provides {
int yylex(YYSTYPE *yylval, YYLTYPE *yylloc, yyscan_t scanner);
#define LOC(l) ((Loc){ (l).first_line, (l).first_column })
}

%code {
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alloc.h"

/* The parser's stack grows through the compiler's one allocator (alloc.h). */
#define YYMALLOC xmalloc
#define YYFREE free

static void yyerror(YYLTYPE *loc, yyscan_t scanner, ParseCtx *pc, const char *msg);
static Value val_of(ValKind k, YYLTYPE l, char *s, long long i);
static void parse_model(ParseCtx *pc, ModelDecl *m);
static void parse_listener(ParseCtx *pc, ListenDecl *l);
static int parse_nest(ParseCtx *pc, Loc at);
static Filter *parse_close(ParseCtx *pc, Filter *f);
static Filter *parse_not(ParseCtx *pc, Filter *f, Loc op);
static Expr *parse_neg(ParseCtx *pc, Expr *e, Loc op);
}

%union {
    char *str;
    Value val;
    Body body;
    Setting *setting;
    ModelDecl *model;
    ListenDecl *listen;
    HandlerSyn handler;
    Arg *arg;
    Filter *filter;
    FilterArg farg;
    Expr *expr;
    ExprKind op;
}

%token YYEOF 0     "end of file"
%token MODEL       "model"
%token LISTEN      "listen"
%token TRUE        "true"
%token FALSE       "false"
%token ARROW       "->"
%token EQ          "=="
%token NE          "!="
%token LE          "<="
%token GE          ">="
%token <str> IDENT  "identifier"
%token <str> STRING "string"
%token <val> INT    "integer"
%token <val> FLOAT  "number"

%type <val> value
%type <body> body
%type <model> model_decl
%type <listen> listener
%type <handler> handler
%type <arg> args
%type <filter> filter conj unary primary
%type <farg> farg
%type <str> path
%type <expr> arith term factor atom
%type <op> cmp

%%

spec
    : %empty
    | spec item
    ;

item
    : model_decl                  { parse_model(pc, $1); }
    | listener                    { parse_listener(pc, $1); }
    | error
    ;

/* Reaching a keyword ends error recovery: the next error is reported. */
model_kw
    : "model"                     { yyerrok; pc->nest = 0; }
    ;
listen_kw
    : "listen"                    { yyerrok; pc->nest = 0; }
    ;

model_decl
    : model_kw IDENT ':' IDENT '{' body '}'  { $$ = ast_model($2, LOC(@2), $4, LOC(@4), $6.settings, $6.blocks); }
    ;

body
    : %empty                      { $$ = (Body){ NULL, NULL }; }
    | body IDENT '=' value        { $$ = (Body){ ast_setting($2, LOC(@2), $4, $1.settings), $1.blocks }; }
    | body IDENT '{' body '}'     { $$ = (Body){ $1.settings, ast_block($2, LOC(@2), $4.settings, $4.blocks, $1.blocks) }; }
    ;

value
    : INT                         { $$ = $1; }
    | FLOAT                       { $$ = $1; }
    | '-' INT                     { $$ = ast_value_neg($2, LOC(@1)); }
    | '-' FLOAT                   { $$ = ast_value_neg($2, LOC(@1)); }
    | "true"                      { $$ = val_of(VAL_BOOL, @1, NULL, 1); }
    | "false"                     { $$ = val_of(VAL_BOOL, @1, NULL, 0); }
    | STRING                      { $$ = val_of(VAL_STRING, @1, $1, 0); }
    | IDENT                       { $$ = val_of(VAL_IDENT, @1, $1, 0); }
    | IDENT '(' STRING ')'        { $$ = ast_value_call($1, LOC(@1), $3); }
    ;

listener
    : listen_kw filter "->" handler  { $$ = ast_listen(LOC(@1), $2, $4.name, $4.loc, $4.args); }
    ;

handler
    : IDENT                       { $$ = (HandlerSyn){ $1, LOC(@1), NULL }; }
    | IDENT '(' ')'               { $$ = (HandlerSyn){ $1, LOC(@1), NULL }; }
    | IDENT '(' args ')'          { $$ = (HandlerSyn){ $1, LOC(@1), ast_args_finish($3) }; }
    ;

args
    : value                       { $$ = ast_arg(NULL, $1.loc, $1, NULL); }
    | IDENT '=' value             { $$ = ast_arg($1, LOC(@1), $3, NULL); }
    | args ',' value              { $$ = ast_arg(NULL, $3.loc, $3, $1); }
    | args ',' IDENT '=' value    { $$ = ast_arg($3, LOC(@3), $5, $1); }
    ;

filter
    : filter '|' conj             { $$ = ast_filter_bin(FL_OR, $1, $3, LOC(@2)); }
    | conj
    ;

conj
    : conj '&' unary              { $$ = ast_filter_bin(FL_AND, $1, $3, LOC(@2)); }
    | unary
    ;

unary
    : not unary                   { $$ = parse_not(pc, $2, LOC(@1)); }
    | primary
    ;

not
    : '~'                         { if (parse_nest(pc, LOC(@1))) YYERROR; }
    ;

primary
    : IDENT                       { $$ = ast_filter_class($1, LOC(@1)); }
    | IDENT '(' farg ')'          { $$ = ast_filter_call($1, LOC(@1), $3.s, $3.loc, $3.is_string); }
    | open filter ')'             { $$ = parse_close(pc, $2); }
    | arith cmp arith             { $$ = ast_filter_pred(ast_expr_bin($2, $1, $3, LOC(@2)), LOC(@1)); }
    ;

open
    : '('                         { if (parse_nest(pc, LOC(@1))) YYERROR; }
    ;

farg
    : path                        { $$ = (FilterArg){ $1, LOC(@1), 0 }; }
    | STRING                      { $$ = (FilterArg){ $1, LOC(@1), 1 }; }
    ;

path
    : IDENT                       { $$ = $1; }
    | path '.' IDENT              { $$ = ast_path_field($1, $3); }
    | path '[' INT ']'            { $$ = ast_path_index($1, $3); }
    ;

cmp
    : "=="                        { $$ = EX_EQ; }
    | "!="                        { $$ = EX_NE; }
    | '<'                         { $$ = EX_LT; }
    | "<="                        { $$ = EX_LE; }
    | '>'                         { $$ = EX_GT; }
    | ">="                        { $$ = EX_GE; }
    ;

arith
    : arith '+' term              { $$ = ast_expr_bin(EX_ADD, $1, $3, LOC(@2)); }
    | arith '-' term              { $$ = ast_expr_bin(EX_SUB, $1, $3, LOC(@2)); }
    | term
    ;

term
    : term '*' factor             { $$ = ast_expr_bin(EX_MUL, $1, $3, LOC(@2)); }
    | factor
    ;

factor
    : neg factor                  { $$ = parse_neg(pc, $2, LOC(@1)); }
    | atom
    ;

neg
    : '-'                         { if (parse_nest(pc, LOC(@1))) YYERROR; }
    ;

atom
    : INT                         { $$ = ast_expr_num($1); }
    | IDENT                       { $$ = ast_expr_name($1, LOC(@1)); }
    | IDENT '.' IDENT '[' INT ']' { $$ = ast_expr_dim($1, LOC(@1), $3, LOC(@3), $5); }
    ;

%%

static Value val_of(ValKind k, YYLTYPE l, char *s, long long i)
{
    Value v = { .kind = k, .loc = LOC(l), .i = i, .s = s };
    return v;
}

static void parse_model(ParseCtx *pc, ModelDecl *m)
{
    ModelDecl *first = pc->spec->model;
    if (!first) {
        pc->spec->model = m;
        return;
    }
    diag_error(m->name_loc, "a spec declares one model; '%s' is a second one", m->name);
    diag_note(first->name_loc, "the model '%s' is declared here", first->name);
}

static void parse_listener(ParseCtx *pc, ListenDecl *l)
{
    *pc->tail = l;
    pc->tail = &l->next;
}

/* Entering "(", "~" or unary "-" inside a filter; 1 = too deep (the action
 * then starts error recovery, which skips to the next listen/model). */
static int parse_nest(ParseCtx *pc, Loc at)
{
    if (++pc->nest <= AST_MAX_DEPTH)
        return 0;
    diag_error(at, "filter nested too deeply (more than %d levels)", AST_MAX_DEPTH);
    return 1;
}

static Filter *parse_close(ParseCtx *pc, Filter *f)
{
    pc->nest--;
    return f;
}

static Filter *parse_not(ParseCtx *pc, Filter *f, Loc op)
{
    pc->nest--;
    return ast_filter_not(f, op);
}

static Expr *parse_neg(ParseCtx *pc, Expr *e, Loc op)
{
    pc->nest--;
    return ast_expr_neg(e, op);
}

static void yyerror(YYLTYPE *loc, yyscan_t scanner, ParseCtx *pc, const char *msg)
{
    (void)scanner;
    (void)pc;
    diag_error(LOC(*loc), "%s", msg);
}

/* How a token is named in messages: 'listen', '(', identifier 'foo'. */
static void describe(char *out, size_t n, yysymbol_kind_t sym, const ParseCtx *pc, int with_text)
{
    switch (sym) {
    case YYSYMBOL_YYEOF:
        snprintf(out, n, "end of file");
        return;
    case YYSYMBOL_IDENT:
        snprintf(out, n, with_text ? "identifier '%s'" : "identifier", pc->tok);
        return;
    case YYSYMBOL_INT:
        snprintf(out, n, with_text ? "integer %s" : "integer", pc->tok);
        return;
    case YYSYMBOL_FLOAT:
        snprintf(out, n, with_text ? "number %s" : "number", pc->tok);
        return;
    case YYSYMBOL_STRING:
        snprintf(out, n, "string");
        return;
    default: {
        const char *name = yysymbol_name(sym);
        size_t len = strlen(name);
        if (len >= 2 && (name[0] == '"' || name[0] == '\''))
            snprintf(out, n, "'%.*s'", (int)(len - 2), name + 1);
        else
            snprintf(out, n, "'%s'", name);
    }
    }
}

/* heatmap(a.png): the unquoted file name around the '.' at `at`, when an
 * identifier is glued to it; 0 if there is none. */
static int bare_file_name(const ParseCtx *pc, Loc at, char *out, size_t n)
{
    const char *t = pc->src->text, *line = t;
    for (int l = 1; l < at.line && line; l++) {
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    if (!line || at.col < 2 || strlen(line) < (size_t)at.col)
        return 0;
    const char *dot = line + at.col - 1, *b = dot, *e = dot;
#define WORD_CHAR(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9') || \
                      (c) == '_' || (c) == '.' || (c) == '/' || (c) == '-' || (c) == '{' || (c) == '}')
    while (b > line && WORD_CHAR(b[-1]))
        b--;
    while (WORD_CHAR(*e))
        e++;
#undef WORD_CHAR
    if (*dot != '.' || b == dot || (size_t)(e - b) >= n)
        return 0;
    snprintf(out, n, "%.*s", (int)(e - b), b);
    return 1;
}

/* "syntax error: unexpected identifier 'foo'; expected '=' or '{'".  The
 * tokens that can start a value are listed as "a value". */
static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner, ParseCtx *pc)
{
    (void)scanner;
    enum { MAX_LISTED = 5 };
    yysymbol_kind_t expected[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, expected, YYNTOKENS);
    int value = 0, m = 0;
    for (int i = 0; i < n; i++)
        if (expected[i] == YYSYMBOL_STRING || expected[i] == YYSYMBOL_TRUE)
            value = 1;
    for (int i = 0; i < n; i++) {
        yysymbol_kind_t t = expected[i];
        if (value && (t == YYSYMBOL_INT || t == YYSYMBOL_FLOAT || t == YYSYMBOL_STRING || t == YYSYMBOL_IDENT ||
                      t == YYSYMBOL_TRUE || t == YYSYMBOL_FALSE || strcmp(yysymbol_name(t), "'-'") == 0))
            continue;
        expected[m++] = t;
    }
    char msg[512], what[96];
    describe(what, sizeof what, yypcontext_token(ctx), pc, 1);
    int off = snprintf(msg, sizeof msg, "syntax error: unexpected %s", what);
    if (m + value > 0 && m + value <= MAX_LISTED) {
        for (int i = 0; i < m + value && off < (int)sizeof msg; i++) {
            if (i < m)
                describe(what, sizeof what, expected[i], pc, 0);
            else
                snprintf(what, sizeof what, "a value");
            const char *sep = i == 0 ? "; expected " : i == m + value - 1 ? " or " : ", ";
            off += snprintf(msg + off, sizeof msg - (size_t)off, "%s%s", sep, what);
        }
    }
    char word[128];
    Loc at = LOC(*yypcontext_location(ctx));
    if (off < (int)sizeof msg && !strcmp(yysymbol_name(yypcontext_token(ctx)), "'.'") &&
        bare_file_name(pc, at, word, sizeof word))
        snprintf(msg + off, sizeof msg - (size_t)off, "; file names are strings: write \"%s\"", word);
    diag_error(at, "%s", msg);
    return 0;
}
