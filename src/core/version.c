/* The library's version. */
#include "mbx.h"

#include "core/handle.h"

#define STR2(x) #x
#define STR(x)  STR2(x)

EXPORT const char *mbx_version(void)
{
    return STR(MBX_VERSION_MAJOR) "." STR(MBX_VERSION_MINOR) "." STR(MBX_VERSION_PATCH);
}
