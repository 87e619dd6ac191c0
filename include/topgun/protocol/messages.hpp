// Every message kind of the protocol (PROTOCOL.md §3), as one variant.
#pragma once

#include <topgun/config.hpp>
#include <topgun/protocol/cluster.hpp>
#include <topgun/protocol/connection.hpp>
#include <topgun/protocol/journal.hpp>
#include <topgun/protocol/messaging.hpp>
#include <topgun/protocol/processing.hpp>
#include <topgun/protocol/query.hpp>
#include <topgun/protocol/search.hpp>
#include <topgun/protocol/sync.hpp>
#include <topgun/protocol/writes.hpp>

#include <variant>

TOPGUN_BEGIN_NAMESPACE
namespace protocol {

// Grouped by domain, in the order of PROTOCOL.md §3.
using Message = std::variant<
    // §3.A connection, auth, heartbeat, errors
    Auth, AuthRequired, AuthAck, AuthFail, DeviceHello, DeviceAck, Ping, Pong, ErrorMessage,
    // §3.B writes, acks, live data events
    ClientOpMessage, OpBatch, OpAck, OpRejected, ServerEvent, ServerBatchEvent, Batch,
    // §3.C LWW Merkle sync
    SyncInit, SyncRespRoot, MerkleReqBucket, SyncRespBuckets, SyncRespLeaf, SyncResetRequired,
    // §3.D OR-Map Merkle sync
    ORMapSyncInit, ORMapSyncRespRoot, ORMapMerkleReqBucket, ORMapSyncRespBuckets, ORMapSyncRespLeaf, ORMapDiffRequest,
    ORMapDiffResponse, ORMapPushDiff,
    // §3.E garbage collection / tombstone frontier
    GcPrune, ClientApplyAck,
    // §3.F queries, SQL
    QuerySub, QueryUnsub, QueryResp, QueryUpdate, QuerySyncInit, SqlQuery, SqlQueryResp,
    // §3.G full-text search
    Search, SearchResp, SearchSub, SearchUpdate, SearchUnsub,
    // §3.H vector and hybrid search
    VectorSearch, VectorSearchResp, HybridSearch, HybridSearchResp, HybridSearchSub, HybridSearchUpdate,
    HybridSearchUnsub,
    // §3.I topics
    TopicSub, TopicUnsub, TopicPub, TopicMessage,
    // §3.J locks
    LockRequest, LockRelease, LockGranted, LockReleased,
    // §3.K PN counters
    CounterRequest, CounterSync, CounterResponse, CounterUpdate,
    // §3.L entry processors
    EntryProcess, EntryProcessBatch, EntryProcessResponse, EntryProcessBatchResponse,
    // §3.M event journal
    JournalSubscribe, JournalUnsubscribe, JournalEvent, JournalRead, JournalReadResponse,
    // §3.N conflict resolvers
    RegisterResolver, RegisterResolverResponse, UnregisterResolver, UnregisterResolverResponse, ListResolvers,
    ListResolversResponse, MergeRejected,
    // §3.O partition map, cluster-internal subscriptions and search
    PartitionMapRequest, PartitionMap, ClusterSubRegister, ClusterSubAck, ClusterSubUpdate, ClusterSubUnregister,
    ClusterSearchReq, ClusterSearchResp, ClusterSearchSubscribe, ClusterSearchUnsubscribe, ClusterSearchUpdate>;

}  // namespace protocol
TOPGUN_END_NAMESPACE
