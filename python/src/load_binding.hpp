// SPDX-License-Identifier: Apache-2.0
// onecopy._core.plan_files / LoadPlan / Store.put_files / Store.open_or_put_files: tensor files
// (.safetensors, .npy, model directories, shard indexes) into a bundle, with the engine's
// loader — the same code path as `onecopy put NAME PATH`.
#pragma once

#include <nanobind/nanobind.h>

#include "onecopy/engine/store.hpp"

namespace onecopy::python {

/// Adds plan_files and LoadPlan to m, put_files and open_or_put_files to the Store class.
void bind_load(nanobind::module_& m, nanobind::class_<store>& store_class);

}  // namespace onecopy::python
