// Project-wide configuration: the versioned namespace and feature macros.
#pragma once

// Everything lives in a versioned inline namespace so that two versions of the
// headers linked into one program fail loudly instead of silently mixing ABIs.
#define TOPGUN_ABI_NAMESPACE v0
#define TOPGUN_BEGIN_NAMESPACE \
    namespace topgun {         \
    inline namespace TOPGUN_ABI_NAMESPACE {
#define TOPGUN_END_NAMESPACE \
    }                        \
    }

// Builds for the browser (WebAssembly) leave out speed-ups only a server needs,
// as the npm package's download has a size budget (see query/live_window.hpp,
// query/query_plan.hpp and query/live_query.hpp).
#if defined(__wasm__)
#define TOPGUN_BROWSER_BUILD 1
#else
#define TOPGUN_BROWSER_BUILD 0
#endif

// The core never throws on the data path: decoders and CRDT operations report
// errors through return values, so the same headers build for WASM with
// exceptions disabled.
