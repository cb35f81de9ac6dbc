/* Built against an installed mbx, by pkg-config and by find_package. */
#include <mbx.h>
#include <stdio.h>

int main(void)
{
    mbx_attr a;
    mbx_attr_init(&a);
    printf("%s %llu\n", mbx_strerror(0), (unsigned long long)a.max_msg_size);
    return a.max_msg_size == 8192 ? 0 : 1;
}
