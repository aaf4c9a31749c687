#include <cstdlib>
#include <cstring>
#include <exception>

#include <opencv2/core.hpp>
#include <opencv2/highgui.hpp>

#include "highgui_shim.h"

static char* cs_error(const char* what) {
    return strdup(what ? what : "unknown error");
}

#define CS_TRY try {
#define CS_CATCH                                   \
    }                                              \
    catch (const cv::Exception& e) {               \
        return cs_error(e.err.c_str());            \
    }                                              \
    catch (const std::exception& e) {              \
        return cs_error(e.what());                 \
    }                                              \
    catch (...) {                                  \
        return cs_error("unknown C++ exception");  \
    }                                              \
    return NULL;

char* cs_named_window(const char* name, int flags) {
    CS_TRY
    cv::namedWindow(name, flags);
    CS_CATCH
}

char* cs_imshow(const char* name, void* mat) {
    CS_TRY
    cv::imshow(name, *static_cast<cv::Mat*>(mat));
    CS_CATCH
}

char* cs_wait_key_ex(int delay, int* key) {
    CS_TRY
    *key = cv::waitKeyEx(delay);
    CS_CATCH
}

char* cs_get_window_property(const char* name, int prop, double* value) {
    CS_TRY
    *value = cv::getWindowProperty(name, prop);
    CS_CATCH
}

char* cs_set_window_property(const char* name, int prop, double value) {
    CS_TRY
    cv::setWindowProperty(name, prop, value);
    CS_CATCH
}

char* cs_resize_window(const char* name, int width, int height) {
    CS_TRY
    cv::resizeWindow(name, width, height);
    CS_CATCH
}

char* cs_destroy_window(const char* name) {
    CS_TRY
    cv::destroyWindow(name);
    CS_CATCH
}
