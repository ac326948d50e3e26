/* check.h - a minimal assertion harness for the C unit tests (one executable per source file). */
#ifndef PAYLOAD_CHECK_H
#define PAYLOAD_CHECK_H

#include <stdio.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        check_count++;                                                                     \
        if (!(cond)) {                                                                     \
            check_failures++;                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
        }                                                                                  \
    } while (0)

#define CHECK_EQ(a, b)                                                                     \
    do {                                                                                   \
        unsigned long long check_a_ = (unsigned long long)(a);                             \
        unsigned long long check_b_ = (unsigned long long)(b);                             \
        check_count++;                                                                     \
        if (check_a_ != check_b_) {                                                        \
            check_failures++;                                                              \
            fprintf(stderr, "%s:%d: %s == %s failed: 0x%llx != 0x%llx\n", __FILE__,        \
                    __LINE__, #a, #b, check_a_, check_b_);                                 \
        }                                                                                  \
    } while (0)

static inline int check_report(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures == 0 ? 0 : 1;
}

/* xorshift64*: deterministic pseudo-random test data without libc's rand(). */
static unsigned long long check_rng_state = 0x9E3779B97F4A7C15ull;
static inline unsigned char check_rand_byte(void)
{
    check_rng_state ^= check_rng_state >> 12;
    check_rng_state ^= check_rng_state << 25;
    check_rng_state ^= check_rng_state >> 27;
    return (unsigned char)((check_rng_state * 0x2545F4914F6CDD1Dull) >> 56);
}

#endif
