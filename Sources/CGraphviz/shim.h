#ifndef CGRAPHVIZ_SHIM_H
#define CGRAPHVIZ_SHIM_H
#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>
#include <stdlib.h>
#include <string.h>

// cgraph's default ID discipline uses the addresses of interned strings as object IDs, and
// subgraphs are kept ordered by ID, so a layout can depend on the heap. This discipline numbers
// names in creation order instead (even IDs; anonymous objects get odd IDs), which makes every
// rendering of the same graph byte-identical, in one process or many.

typedef struct {
  Agraph_t *graph;
  char **names;
  size_t count;
  size_t capacity;
  IDTYPE nextAnonymous;
} cgraphviz_id_state;

static void *cgraphviz_id_open(Agraph_t *g, Agdisc_t *disc) {
  (void)disc;
  cgraphviz_id_state *state = calloc(1, sizeof(cgraphviz_id_state));
  if (state) {
    state->graph = g;
    state->nextAnonymous = 1;
  }
  return state;
}

static long cgraphviz_id_map(void *opaque, int objtype, char *str, IDTYPE *id, int createflag) {
  (void)objtype;
  cgraphviz_id_state *state = opaque;
  if (str == NULL) {
    *id = state->nextAnonymous;
    state->nextAnonymous += 2;
    return 1;
  }
  for (size_t i = 0; i < state->count; i++) {
    if (strcmp(state->names[i], str) == 0) {
      *id = (IDTYPE)(2 * (i + 1));
      return 1;
    }
  }
  if (!createflag) return 0;
  if (state->count == state->capacity) {
    size_t capacity = state->capacity ? 2 * state->capacity : 64;
    char **names = realloc(state->names, capacity * sizeof(char *));
    if (!names) return 0;
    state->names = names;
    state->capacity = capacity;
  }
  // cgraph's writer reads flags stored in front of the names it prints (is it HTML?), so names
  // must be its reference-counted strings; they live until the graph's string table is closed.
  char *copy = agstrdup(state->graph, str);
  if (!copy) return 0;
  state->names[state->count++] = copy;
  *id = (IDTYPE)(2 * state->count);
  return 1;
}

static long cgraphviz_id_alloc(void *state, int objtype, IDTYPE id) {
  (void)state;
  (void)objtype;
  (void)id;
  return 0;  // IDs requested by the client are not supported (cgraph then falls back to map).
}

static void cgraphviz_id_free(void *state, int objtype, IDTYPE id) {
  (void)state;
  (void)objtype;
  (void)id;
}

static char *cgraphviz_id_print(void *opaque, int objtype, IDTYPE id) {
  (void)objtype;
  cgraphviz_id_state *state = opaque;
  if (id % 2 == 1 || id == 0) return NULL;
  size_t index = (size_t)(id / 2) - 1;
  return index < state->count ? state->names[index] : NULL;
}

static void cgraphviz_id_close(void *opaque) {
  cgraphviz_id_state *state = opaque;
  free(state->names);
  free(state);
}

static void cgraphviz_id_register(void *state, int objtype, void *obj) {
  (void)state;
  (void)objtype;
  (void)obj;
}

/// Opens a directed graph whose object IDs follow creation order.
static inline Agraph_t *cgraphviz_open_directed(char *name) {
  static Agiddisc_t ids = {cgraphviz_id_open, cgraphviz_id_map, cgraphviz_id_alloc, cgraphviz_id_free,
                           cgraphviz_id_print, cgraphviz_id_close, cgraphviz_id_register};
  static Agdisc_t disc;
  disc.mem = &AgMemDisc;
  disc.id = &ids;
  disc.io = &AgIoDisc;
  return agopen(name, Agdirected, &disc);
}
#endif
