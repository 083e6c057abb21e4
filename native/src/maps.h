// Map access by fd (lookup, update, delete, next key, info), program run statistics, and small kernel helpers.
#pragma once
#include <napi.h>

namespace tapio {
void InitMaps(Napi::Env env, Napi::Object exports);
}
