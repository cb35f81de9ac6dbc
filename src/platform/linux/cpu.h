/* A polite busy-wait step, for spin loops on shared memory. */
#ifndef MBX_CPU_H
#define MBX_CPU_H

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
