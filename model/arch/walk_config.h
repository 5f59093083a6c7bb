// From validated STE/CD contents to the walker's configuration: the one place
// that decides which descriptor fields (and which implemented features) shape a
// table walk (reference §3.2, §4.1-4.2).
#pragma once

#include "model/arch/cd.h"
#include "model/arch/features.h"
#include "model/arch/ste.h"
#include "model/arch/walker.h"

namespace smmu::arch {

/// Stage-1 walk inputs from a CD that validate_cd() accepted. `nested`: stage 2
/// also runs, so the stage-1 output (an IPA) is limited to the IAS.
stage1_config make_stage1_config(const cd& c, stream_world world, const feature_set& f,
                                 bool nested);

/// Stage-2 walk inputs from an STE that validate_ste() accepted.
stage2_config make_stage2_config(const ste& s, const feature_set& f);

} // namespace smmu::arch
