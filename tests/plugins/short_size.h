/* tests/plugins/short_size.h - the struct_size the short plugin claims; the loader test expects
 * the number in its refusal. */
#ifndef HRM_TESTS_PLUGINS_SHORT_SIZE_H
#define HRM_TESTS_PLUGINS_SHORT_SIZE_H

#define SHORT_TABLE_SIZE ((uint32_t)HRM_IFACE_END(finish))

#endif
