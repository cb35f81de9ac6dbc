/* A segment in private memory for the unit tests of the segment's layers. */
#ifndef MBX_SEG_FIXTURE_H
#define MBX_SEG_FIXTURE_H

#include "shm/heap/alloc.h"
#include "shm/kind.h"
#include "shm/segment.h"

#include <sys/mman.h>

struct fixture {
    struct seg s;
    unsigned char *base;
    uint64_t size;
};

/* Formats a fresh segment with max_msg_size and capacity. */
static inline void fixture_make(struct fixture *f, uint64_t max_msg, uint32_t capacity)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.max_msg_size = max_msg;
    a.capacity = capacity;
    a.memory_limit = 64ull << 20;
    f->size = seg_size_for(&a, &shm_kind_heap);
    f->base = mmap(NULL, f->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(f->base != MAP_FAILED);
    assert_int_equal(seg_format(f->base, f->size, &a, "fixture", &shm_kind_heap, 0, -1), 0);
    assert_int_equal(seg_attach(&f->s, f->base, f->size), 0);
    alloc_init(&f->s);
}

static inline void fixture_free(struct fixture *f)
{
    munmap(f->base, f->size);
}

#endif
