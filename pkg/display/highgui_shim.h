// Thin C wrappers around OpenCV's highgui for package display. Every function catches C++ exceptions (a
// cv::Exception crossing the cgo boundary would abort the process) and returns them as a malloc'ed message,
// NULL on success.
#ifndef CAMSTREAM_HIGHGUI_SHIM_H
#define CAMSTREAM_HIGHGUI_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

char* cs_named_window(const char* name, int flags);
char* cs_imshow(const char* name, void* mat);
char* cs_wait_key_ex(int delay, int* key);
char* cs_get_window_property(const char* name, int prop, double* value);
char* cs_set_window_property(const char* name, int prop, double value);
char* cs_resize_window(const char* name, int width, int height);
char* cs_destroy_window(const char* name);

#ifdef __cplusplus
}
#endif

#endif
