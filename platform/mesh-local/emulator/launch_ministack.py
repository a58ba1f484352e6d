# Starts MiniStack, the embedded AWS emulator of the mesh's tests, with its
# stream event-source-mapping pollers corrected to behave like AWS Lambda.
#
# Why: MiniStack 1.5.33's DynamoDB-stream and Kinesis pollers ignore a
# function's `batchItemFailures` (a successful invoke advances the whole batch,
# so records the function reported as failed are lost), do not apply
# `MaximumRetryAttempts` (a failing batch is retried forever) and do not bisect
# on `BisectBatchOnFunctionError`. The mesh's relay depends on all three, so the
# tests would pass or fail for the emulator's reasons, not the code's. The fix
# lives here, in the test harness, never in product code.
#
# What AWS does, and this file does too (a mapping with
# `FunctionResponseTypes: [ReportBatchItemFailures]`):
# - the checkpoint moves to the lowest reported `itemIdentifier` (a DynamoDB
#   record's `dynamodb.SequenceNumber`, a Kinesis record's
#   `kinesis.sequenceNumber`); the records before it are done, the batch is
#   retried from it. An empty or unknown identifier, or a response that is not
#   JSON, fails the whole batch; an empty or null list is a full success.
# - the failed invocations at one checkpoint are counted; once they exceed
#   `MaximumRetryAttempts` (-1 or absent: retry until the records expire), an
#   invocation record (condition `RetryAttemptsExhausted`) goes to
#   `DestinationConfig.OnFailure` and the poller moves past the batch.
# - with `BisectBatchOnFunctionError`, a batch of two or more records whose
#   invocation fails is split in two and each half retried on its own; a split
#   does not count as a retry.
# - a throttled invocation is retried without counting.
#
# The launcher also ends itself, and every process it started, when the
# process named by MESH_PARENT_PID (the test binary that started it) is gone:
# a crashed test, or an Emulator kept in a `static`, never stops it otherwise.
#
# The two pollers below are copies of MiniStack's `_poll_dynamodb_streams` and
# `_poll_kinesis` (ministack/services/lambda_svc.py, version 1.5.33), kept as
# close to the originals as the fix allows; every change is marked `# mesh:`.
# The helpers after the `# mesh: new helpers` line are new code.
#
# Portions copied from MiniStack:
#   Copyright (c) 2026 MiniStack Contributors. SPDX-License-Identifier: MIT
#   Copies or substantial portions, including AI-assisted ports or rewrites,
#   must retain this notice (see LICENSE).
#
#   Permission is hereby granted, free of charge, to any person obtaining a copy
#   of this software and associated documentation files (the "Software"), to deal
#   in the Software without restriction, including without limitation the rights
#   to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
#   copies of the Software, and to permit persons to whom the Software is
#   furnished to do so, subject to the following conditions:
#
#   The above copyright notice and this permission notice shall be included in
#   all copies or substantial portions of the Software.
#
#   THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
#   IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
#   FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
#   AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
#   LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
#   OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
#   SOFTWARE.
#
# Usage: <venv>/bin/python launch_ministack.py   (configured by environment,
# exactly like the `ministack` command: GATEWAY_PORT, BIND_HOST, ...).

import base64
import hashlib
import json
import os
import re
import signal
import sys
import threading
import time
from importlib.metadata import version as _dist_version

PATCHED_VERSION = "1.5.33"

_installed = _dist_version("ministack")
if _installed != PATCHED_VERSION:
    sys.stderr.write(
        f"launch_ministack.py corrects MiniStack {PATCHED_VERSION}'s stream pollers, "
        f"but MiniStack {_installed} is installed: pin ministack=={PATCHED_VERSION} in "
        "platform/mesh-local/emulator/requirements.txt, or re-check the copied pollers "
        "against the new version before changing PATCHED_VERSION.\n"
    )
    sys.exit(2)

from ministack import app as _app  # noqa: E402  (after the version check)
from ministack.services import lambda_svc as _svc  # noqa: E402
from ministack.core.arn import ArnParseError, parse_arn  # noqa: E402
from ministack.core.responses import (  # noqa: E402
    _request_account_id,
    _request_region,
    get_account_id,
    get_region,
    new_uuid,
)
from ministack.services.lambda_svc import (  # noqa: E402
    _ESM_BACKOFF_SECONDS,
    _apply_filter_criteria,
    _cross_account_read_blocked,
    _dynamodb_stream_positions,
    _dynamodb_stream_positions_lock,
    _dynamodb_stream_table_from_arn_spec,
    _esm_backoff_until,
    _execute_function,
    _get_func_record_for_qualifier,
    _iter_all_esms,
    _kinesis_positions,
    _kinesis_stream_name_from_arn_spec,
    _send_ddb_stream_failure_record,
    esm_wake,
    logger,
)


def _poll_kinesis():
    """Returns True if any shard advanced past a batch this pass (successfully
    invoked, or filtered out entirely)."""
    from ministack.services import kinesis as _kin

    processed_any = False
    _mesh_forget_deleted_esms()  # mesh: drop retry state of deleted mappings

    for acct_id, region, esm in _iter_all_esms():
        account_token = _request_account_id.set(acct_id)
        region_token = _request_region.set(region)
        try:
            if not esm.get("Enabled", True):
                continue
            source_arn = esm.get("EventSourceArn", "")
            try:
                source_spec = parse_arn(source_arn)
            except ArnParseError:
                continue
            if source_spec.service != "kinesis" or source_spec.region != get_region():
                continue
            stream_name = _kinesis_stream_name_from_arn_spec(source_spec)
            if not stream_name:
                continue

            func_name = esm["FunctionName"]
            qualifier = esm.get("Qualifier")
            func_rec, _cfg = _get_func_record_for_qualifier(func_name, qualifier)
            if func_rec is None:
                continue

            # A cross-account mapping reads the stream in its owner's account, while its policy allows it.
            stream = _kin._streams.get_scoped(source_spec.account_id, source_spec.region, stream_name)
            if not stream or stream.get("StreamARN") != source_arn or stream["StreamStatus"] != "ACTIVE":
                continue
            if source_spec.account_id != get_account_id() and _cross_account_read_blocked(source_arn, func_rec, func_name):
                continue

            esm_id = esm["UUID"]
            if _esm_backoff_until.get(esm_id, 0) > time.time():
                continue

            if esm_id not in _kinesis_positions:
                starting = esm.get("StartingPosition", "LATEST")
                _kinesis_positions[esm_id] = {}
                for shard_id, shard in stream["shards"].items():
                    if starting == "TRIM_HORIZON":
                        _kinesis_positions[esm_id][shard_id] = 0
                    else:
                        _kinesis_positions[esm_id][shard_id] = len(shard["records"])

            batch_size = esm.get("BatchSize", 100)
            positions = _kinesis_positions[esm_id]

            for shard_id, shard in stream["shards"].items():
                if shard_id not in positions:
                    positions[shard_id] = len(shard["records"])
                    continue

                pos = positions[shard_id]
                # mesh: a bisected batch is retried half by half: read no further than the current half.
                retry_key = (esm_id, shard_id)
                window = _mesh_window(retry_key, pos, _mesh_int(batch_size, 100))
                raw_records = shard["records"][pos:pos + window]
                if not raw_records:
                    continue

                records = []
                for r in raw_records:
                    data_val = r["Data"]
                    if isinstance(data_val, bytes):
                        data_b64 = base64.b64encode(data_val).decode("ascii")
                    elif isinstance(data_val, str):
                        try:
                            base64.b64decode(data_val, validate=True)
                            data_b64 = data_val
                        except Exception:
                            data_b64 = base64.b64encode(data_val.encode("utf-8")).decode("ascii")
                    else:
                        data_b64 = base64.b64encode(str(data_val).encode("utf-8")).decode("ascii")

                    records.append({
                        "kinesis": {
                            "kinesisSchemaVersion": "1.0",
                            "partitionKey": r["PartitionKey"],
                            "sequenceNumber": r["SequenceNumber"],
                            "data": data_b64,
                            "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"],
                        },
                        "eventSource": "aws:kinesis",
                        "eventVersion": "1.0",
                        "eventID": f"{shard_id}:{r['SequenceNumber']}",
                        "eventName": "aws:kinesis:record",
                        "invokeIdentityArn": f"arn:aws:iam::{get_account_id()}:role/lambda-role",
                        "awsRegion": get_region(),
                        "eventSourceARN": source_arn,
                    })

                # AWS drops records that don't match FilterCriteria before invoke.
                # Advance past the raw batch we consumed — filtered records are
                # treated as "successfully processed" (same semantics as the
                # normal success path below, which adds len(raw_records)).
                records = _apply_filter_criteria(records, esm)
                if not records:
                    _kinesis_positions[esm_id][shard_id] = pos + len(raw_records)
                    _mesh_succeeded(retry_key, pos + len(raw_records))  # mesh:
                    processed_any = True
                    continue

                event = {"Records": records}
                result = _execute_function(func_rec, event)

                # mesh: a partial batch response fails the batch from its first failed record on.
                raw_ids = [str(r.get("SequenceNumber", "")) for r in raw_records]
                fail_idx = _mesh_failed_index(esm, result, raw_ids)

                if fail_idx is not None:  # mesh: was `if result.get("error"):`
                    err_body = result.get("body") or {}
                    err_type = err_body.get("errorType") if isinstance(err_body, dict) else None
                    err_msg = err_body.get("errorMessage") if isinstance(err_body, dict) else None
                    esm["LastProcessingResult"] = "FAILED"
                    logger.warning(
                        "ESM: Lambda %s failed processing Kinesis batch from %s/%s (errorType=%s errorMessage=%s"
                        " failedFrom=%s/%s)\n%s",  # mesh: which record the retry starts at
                        func_name, stream_name, shard_id, err_type, err_msg, fail_idx, len(raw_records),
                        result.get("log", ""),
                    )
                    # mesh: the rest of this branch is new: retry count, on-failure destination, bisect.
                    if result.get("throttle"):
                        _esm_backoff_until[esm_id] = time.time() + _ESM_BACKOFF_SECONDS
                        continue
                    new_pos, exhausted, bisected, attempts = _mesh_after_failure(
                        esm, retry_key, pos, len(raw_records), fail_idx, bool(result.get("error")))
                    if exhausted:
                        _mesh_send_kinesis_failure_record(
                            esm, func_rec, raw_records[fail_idx:], shard_id, source_arn, result,
                            "RetryAttemptsExhausted", attempts)
                    positions[shard_id] = new_pos
                    if new_pos > pos or bisected:  # a bisected half is due at once
                        processed_any = True
                    if not bisected and not exhausted:
                        # Position doesn't advance past the failed record, so
                        # pace the retries.
                        _esm_backoff_until[esm_id] = time.time() + _ESM_BACKOFF_SECONDS
                else:
                    processed_any = True
                    _esm_backoff_until.pop(esm_id, None)
                    positions[shard_id] = pos + len(raw_records)
                    _mesh_succeeded(retry_key, pos + len(raw_records))  # mesh:
                    esm["LastProcessingResult"] = f"OK - {len(raw_records)} records"
                    log_output = result.get("log", "")
                    if log_output:
                        logger.info("ESM: Lambda %s output:\n%s", func_name, log_output)
                    logger.info(
                        "ESM: Lambda %s processed %d Kinesis records from %s/%s",
                        func_name, len(raw_records), stream_name, shard_id,
                    )
        finally:
            _request_account_id.reset(account_token)
            _request_region.reset(region_token)

    return processed_any


def _poll_dynamodb_streams():
    """Returns True if any table advanced past a batch this pass (successfully
    invoked, or filtered out entirely)."""
    from ministack.services import dynamodb as _ddb

    stream_records = getattr(_ddb, "_stream_records", None)
    if stream_records is None:
        return False

    processed_any = False
    _mesh_forget_deleted_esms()  # mesh: drop retry state of deleted mappings

    for acct_id, region, esm in _iter_all_esms():
        account_token = _request_account_id.set(acct_id)
        region_token = _request_region.set(region)
        try:
            if not esm.get("Enabled", True):
                continue
            source_arn = esm.get("EventSourceArn", "")
            try:
                source_spec = parse_arn(source_arn)
            except ArnParseError:
                continue
            if (
                source_spec.service != "dynamodb"
                or source_spec.account_id != get_account_id()
                or source_spec.region != get_region()
            ):
                continue
            table_stream = _dynamodb_stream_table_from_arn_spec(source_spec)
            if table_stream is None:
                continue
            table_name, _stream_label = table_stream

            func_name = esm["FunctionName"]
            qualifier = esm.get("Qualifier")
            func_rec, _cfg = _get_func_record_for_qualifier(func_name, qualifier)
            if func_rec is None:
                continue

            table = _ddb._tables.get(table_name)
            if not table or table.get("LatestStreamArn") != source_arn:
                continue
            horizon = _ddb.stream_start_position(table_name)
            end = _ddb.stream_end_position(table_name)
            if end == horizon:
                continue

            esm_id = esm["UUID"]
            if _esm_backoff_until.get(esm_id, 0) > time.time():
                continue

            with _dynamodb_stream_positions_lock:
                if esm_id not in _dynamodb_stream_positions:
                    starting = esm.get("StartingPosition", "LATEST")
                    if starting == "TRIM_HORIZON":
                        _dynamodb_stream_positions[esm_id] = horizon
                    else:
                        _dynamodb_stream_positions[esm_id] = end
                # Records that expired since the last pass are gone; resume at
                # the trim horizon rather than replaying from a stale offset.
                pos = max(_dynamodb_stream_positions[esm_id], horizon)
                _dynamodb_stream_positions[esm_id] = pos

            batch_size = esm.get("BatchSize", 100)
            # mesh: a bisected batch is retried half by half: read no further than the current half.
            window = _mesh_window(esm_id, pos, _mesh_int(batch_size, 100))
            # mesh: keep the raw batch: failures are located in it, before filtering.
            raw_batch = _ddb.stream_records_since(table_name, pos, window)
            if not raw_batch:
                continue

            raw_len = len(raw_batch)
            batch = _apply_filter_criteria(raw_batch, esm)
            if not batch:
                # All records filtered — advance position so we don't re-evaluate.
                with _dynamodb_stream_positions_lock:
                    _dynamodb_stream_positions[esm_id] = pos + raw_len
                _mesh_succeeded(esm_id, pos + raw_len)  # mesh:
                processed_any = True
                continue

            event = {"Records": batch}
            result = _execute_function(func_rec, event)

            # mesh: a partial batch response fails the batch from its first failed record on.
            raw_ids = [str((r.get("dynamodb") or {}).get("SequenceNumber", "")) for r in raw_batch]
            fail_idx = _mesh_failed_index(esm, result, raw_ids)

            if fail_idx is not None:  # mesh: was `if result.get("error"):`
                err_body = result.get("body") or {}
                err_type = err_body.get("errorType") if isinstance(err_body, dict) else None
                err_msg = err_body.get("errorMessage") if isinstance(err_body, dict) else None
                esm["LastProcessingResult"] = "FAILED"
                logger.warning(
                    "ESM: Lambda %s failed processing DynamoDB stream batch from %s (errorType=%s errorMessage=%s"
                    " failedFrom=%s/%s)\n%s",  # mesh: which record the retry starts at
                    func_name, table_name, err_type, err_msg, fail_idx, raw_len, result.get("log", ""),
                )
                # mesh: a throttled invocation is retried without counting.
                if result.get("throttle"):
                    _esm_backoff_until[esm_id] = time.time() + _ESM_BACKOFF_SECONDS
                    continue
                # mesh: the records still failing are the raw ones from the first failed record on.
                failing = raw_batch[fail_idx:]
                # July 2026: enforce MaximumRecordAgeInSeconds. If the oldest
                # record in the failing batch has aged past the limit, discard
                # the batch to the OnFailure destination (MaxRecordAgeExceeded)
                # and advance the shard so a poison batch can't block it forever.
                max_age = esm.get("MaximumRecordAgeInSeconds")
                if max_age and _mesh_int(max_age, -1) > 0:  # mesh: CloudFormation passes numbers as strings
                    oldest = min(
                        (float((r.get("dynamodb") or {}).get("ApproximateCreationDateTime", time.time()))
                         for r in failing),  # mesh: was `batch`
                        default=time.time(),
                    )
                    if (time.time() - oldest) > _mesh_int(max_age, -1):
                        _send_ddb_stream_failure_record(
                            esm, func_rec, failing, source_arn, result, "MaxRecordAgeExceeded")  # mesh: `failing`
                        with _dynamodb_stream_positions_lock:
                            _dynamodb_stream_positions[esm_id] = pos + raw_len
                        _mesh_succeeded(esm_id, pos + raw_len)  # mesh:
                        processed_any = True
                        continue
                # mesh: count the failure at its checkpoint; bisect, give up, or retry from there.
                new_pos, exhausted, bisected, _attempts = _mesh_after_failure(
                    esm, esm_id, pos, raw_len, fail_idx, bool(result.get("error")))
                if exhausted:
                    _send_ddb_stream_failure_record(
                        esm, func_rec, failing, source_arn, result, "RetryAttemptsExhausted")
                with _dynamodb_stream_positions_lock:
                    _dynamodb_stream_positions[esm_id] = new_pos
                if new_pos > pos or bisected:  # a bisected half is due at once
                    processed_any = True
                if not bisected and not exhausted:
                    # Position doesn't advance past the failed record, so the
                    # next pass would refetch it: pace the retries.
                    _esm_backoff_until[esm_id] = time.time() + _ESM_BACKOFF_SECONDS
            else:
                processed_any = True
                _esm_backoff_until.pop(esm_id, None)
                with _dynamodb_stream_positions_lock:
                    _dynamodb_stream_positions[esm_id] = pos + raw_len
                _mesh_succeeded(esm_id, pos + raw_len)  # mesh:
                esm["LastProcessingResult"] = f"OK - {len(batch)} records"
                log_output = result.get("log", "")
                if log_output:
                    logger.info("ESM: Lambda %s output:\n%s", func_name, log_output)
                logger.info(
                    "ESM: Lambda %s processed %d DynamoDB stream records from %s",
                    func_name, len(batch), table_name,
                )
        finally:
            _request_account_id.reset(account_token)
            _request_region.reset(region_token)

    return processed_any


# mesh: new helpers ------------------------------------------------------------

# Retry bookkeeping per mapping (DynamoDB: ESM id) or mapping+shard (Kinesis:
# (ESM id, shard id)). Only the poller thread touches it.
#   "pos":      the checkpoint the failures were counted at
#   "failures": failed invocations in a row at that checkpoint
#   "ends":     ascending absolute positions where the pending bisected halves end
_mesh_retry = {}


def _mesh_int(value, default):
    """CloudFormation hands template numbers over as strings ("3")."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _mesh_bool(value):
    """CloudFormation hands template booleans over as strings ("true")."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _mesh_forget_deleted_esms():
    live = set()
    for _acct, _region, esm in _iter_all_esms():
        live.add(esm.get("UUID"))
    for key in list(_mesh_retry):
        esm_id = key[0] if isinstance(key, tuple) else key
        if esm_id not in live:
            _mesh_retry.pop(key, None)


def _mesh_window(key, pos, batch_size):
    """How many records the next invocation may take from `pos`."""
    state = _mesh_retry.get(key)
    if not state:
        return batch_size
    state["ends"] = [e for e in state["ends"] if e > pos]
    if state["ends"]:
        return max(1, min(batch_size, state["ends"][0] - pos))
    return batch_size


def _mesh_failed_index(esm, result, raw_ids):
    """Index in the raw batch from which it has to be retried, or None when the
    invocation succeeded (AWS Lambda developer guide, "Configuring partial
    batch response with DynamoDB and Lambda" / "... with Kinesis ...")."""
    if result.get("error"):
        return 0
    if "ReportBatchItemFailures" not in (esm.get("FunctionResponseTypes") or []):
        return None
    body = result.get("body")
    if result.get("raw_payload") or isinstance(body, str):
        if isinstance(body, str) and body.strip() in ("", "null"):
            return None
        try:
            body = json.loads(body) if isinstance(body, str) else body
        except (TypeError, ValueError):
            return 0  # not JSON: the whole batch failed
    if body is None:
        return None
    if not isinstance(body, dict):
        return 0
    failures = body.get("batchItemFailures")
    if not failures:
        return None  # absent, null or empty: full success
    if not isinstance(failures, list):
        return 0
    index_of = {seq: i for i, seq in enumerate(raw_ids) if seq}
    lowest = None
    for failure in failures:
        ident = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(ident, str) or ident not in index_of:
            return 0  # empty, null, misnamed or unknown identifier: the whole batch failed
        i = index_of[ident]
        lowest = i if lowest is None else min(lowest, i)
    return lowest


def _mesh_after_failure(esm, key, pos, raw_len, fail_idx, function_error):
    """Apply a failed invocation of raw records [pos, pos+raw_len) that failed
    from pos+fail_idx on. Returns (new position, exhausted, bisected, attempts)."""
    state = _mesh_retry.setdefault(key, {"pos": None, "failures": 0, "ends": []})
    if function_error and raw_len > 1 and _mesh_bool(esm.get("BisectBatchOnFunctionError")):
        half = raw_len // 2
        state["ends"] = sorted({e for e in state["ends"] if e > pos} | {pos + half, pos + raw_len})
        logger.info("ESM %s: bisecting a failed batch of %d records", key, raw_len)
        return pos, False, True, state["failures"]
    checkpoint = pos + fail_idx
    if state["pos"] == checkpoint:
        state["failures"] += 1
    else:
        state["pos"] = checkpoint
        state["failures"] = 1
    attempts = state["failures"]
    max_retries = _mesh_int(esm.get("MaximumRetryAttempts", -1), -1)
    if 0 <= max_retries < attempts:
        logger.warning(
            "ESM %s: %d attempts failed at one checkpoint, MaximumRetryAttempts=%d: "
            "skipping %d records to the on-failure destination",
            key, attempts, max_retries, raw_len - fail_idx,
        )
        state["pos"] = None
        state["failures"] = 0
        return pos + raw_len, True, False, attempts
    return checkpoint, False, False, attempts


def _mesh_succeeded(key, new_pos):
    state = _mesh_retry.get(key)
    if state is None:
        return
    state["pos"] = None
    state["failures"] = 0
    state["ends"] = [e for e in state["ends"] if e > new_pos]
    if not state["ends"]:
        _mesh_retry.pop(key, None)


def _mesh_send_kinesis_failure_record(esm, func_rec, batch, shard_id, stream_arn, result, condition, attempts):
    """The Kinesis twin of MiniStack's `_send_ddb_stream_failure_record`: an
    on-failure invocation record with `KinesisBatchInfo`, to SQS or SNS."""
    dest = ((esm.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    if not dest:
        return
    config = func_rec.get("config") or func_rec
    now = time.time()

    def _iso(ts):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(ts)))

    first = batch[0] if batch else {}
    last = batch[-1] if batch else {}
    envelope = {
        "requestContext": {
            "requestId": new_uuid(),
            "functionArn": config.get("FunctionArn", ""),
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": result.get("function_error") or "Unhandled",
        },
        "version": "1.0",
        "timestamp": _iso(now),
        "KinesisBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": str(first.get("SequenceNumber", "")),
            "endSequenceNumber": str(last.get("SequenceNumber", "")),
            "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateArrivalTimestamp", now)),
            "approximateArrivalOfLastRecord": _iso(last.get("ApproximateArrivalTimestamp", now)),
            "batchSize": len(batch),
            "streamArn": stream_arn,
        },
    }
    body = json.dumps(envelope)
    try:
        spec = parse_arn(dest)
    except ArnParseError:
        return
    try:
        if spec.service == "sqs":
            import ministack.services.sqs as _sqs
            target_q = _sqs._queue_by_arn(dest)
            if target_q is not None:
                target_q["messages"].append({
                    "id": new_uuid(), "body": body,
                    "md5_body": hashlib.md5(body.encode()).hexdigest(), "md5_attrs": "",
                    "receipt_handle": None, "sent_at": now, "visible_at": now + _sqs.queue_delay(target_q),
                    "receive_count": 0, "first_receive_at": None, "message_attributes": {},
                    "sys": {"SenderId": get_account_id(), "SentTimestamp": str(int(now * 1000))},
                    "group_id": None, "dedup_id": None, "dedup_cache_key": None, "seq": None,
                })
                esm_wake.set()
        elif spec.service == "sns":
            import ministack.services.sns as _sns
            if dest in _sns._topics:
                _sns._fanout(dest, new_uuid(), body, "Lambda ESM failure", "", {})
    except Exception as exc:
        logger.error("Kinesis ESM on-failure dispatch failed: %s", exc)


# mesh: end with the process that started us --------------------------------

def _mesh_descendants(root_pid):
    """Pids of every living descendant of root_pid, from /proc/*/stat."""
    parents = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(name))
    found, todo = [], [root_pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _mesh_watch_parent():
    """The harness drops its Emulator to stop us; a test binary that crashes,
    or keeps the Emulator in a `static`, never does. So when the process named
    by MESH_PARENT_PID is no longer our parent, end every process we started
    and ourselves, by id."""
    parent = os.environ.get("MESH_PARENT_PID", "")
    if not parent.isdigit() or os.getppid() != int(parent):
        return

    def _watch():
        while True:
            time.sleep(1)
            if os.getppid() != int(parent):
                for pid in _mesh_descendants(os.getpid()):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=_watch, name="mesh-parent-watch", daemon=True).start()


# _poll_loop looks both pollers up in lambda_svc's globals on every pass, and
# the poll thread starts only when the first mapping is created, so replacing
# them before the server starts is enough.
_svc._poll_dynamodb_streams = _poll_dynamodb_streams
_svc._poll_kinesis = _poll_kinesis


# mesh: CloudFormation passes a `!Ref`'d parameter as a string; AWS coerces it
# to the property's integer type, MiniStack stores "3", and GetEventSourceMapping
# then answers a string where the SDK expects an integer. Coerce like AWS does.
# `Enabled: false` is kept but the mapping is still created in State
# "Enabled"; set the state the property asks for, as AWS does.
def _mesh_integer_esm_props(create):
    def wrapped(logical_id, props, stack_name):
        props = dict(props)
        for key in ("MaximumRetryAttempts", "MaximumRecordAgeInSeconds", "ParallelizationFactor",
                    "BatchSize", "MaximumBatchingWindowInSeconds"):
            if isinstance(props.get(key), str):
                props[key] = int(props[key])
        if "Enabled" in props:
            props["Enabled"] = _mesh_bool(props["Enabled"])
        esm_id, attributes = create(logical_id, props, stack_name)
        esm = _svc._esms.get(esm_id)
        if esm is not None and not props.get("Enabled", True):
            esm["State"] = "Disabled"
        return esm_id, attributes
    return wrapped


from ministack.services.cloudformation import provisioners as _provisioners  # noqa: E402

_esm_handlers = _provisioners._RESOURCE_HANDLERS["AWS::Lambda::EventSourceMapping"]
_esm_handlers["create"] = _mesh_integer_esm_props(_esm_handlers["create"])


# mesh: for a role's session AWS sets `aws:PrincipalArn` to the role's ARN
# (arn:aws:iam::<account>:role/<name>), which is how a key policy names the
# roles of a domain that do not exist yet when the key is created; MiniStack
# gives the session's (arn:aws:sts::<account>:assumed-role/<name>/<session>),
# so under AUTH=true such a statement never matched. Give the role's, as AWS
# does. (The session ARN does not carry a role's path; the mesh's roles have none.)
from ministack.core import iam_evaluator as _iam_evaluator  # noqa: E402

_MESH_SESSION_ARN = re.compile(r"arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/.+")


def _mesh_principal_arn(resolve):
    def wrapped(key, ctx):
        value = resolve(key, ctx)
        session = _MESH_SESSION_ARN.fullmatch(value) if isinstance(value, str) else None
        if key.lower() == "aws:principalarn" and session:
            partition, account, role = session.groups()
            return f"arn:{partition}:iam::{account}:role/{role}"
        return value
    return wrapped


_iam_evaluator._resolve_condition_key = _mesh_principal_arn(_iam_evaluator._resolve_condition_key)

# mesh: AWS evaluates `kms:EncryptionContext:<key>` against the context a KMS
# call carries (GenerateDataKey, Decrypt, ...), which is how a role's policy
# and a key policy bind a data key to one product. MiniStack resolves no such
# key, so under AUTH=true every statement with one denied. Keep the call's
# context for the request (read where MiniStack reads the resource ARN from
# the body) and resolve the key from it, as AWS does.
import contextvars as _mesh_contextvars  # noqa: E402
from ministack.core import iam_actions as _mesh_iam_actions  # noqa: E402

_MESH_KMS_CONTEXT = _mesh_contextvars.ContextVar("mesh_kms_encryption_context", default={})
_mesh_extract_resource_arn = _mesh_iam_actions.extract_resource_arn


def _mesh_keep_kms_context(service, method, path, headers, body, *args, **kwargs):
    context = {}
    if service == "kms":
        try:
            context = json.loads(body or b"{}").get("EncryptionContext") or {}
        except (ValueError, AttributeError):
            context = {}
    _MESH_KMS_CONTEXT.set({str(k).lower(): v for k, v in context.items()} if isinstance(context, dict) else {})
    return _mesh_extract_resource_arn(service, method, path, headers, body, *args, **kwargs)


def _mesh_encryption_context(resolve):
    def wrapped(key, ctx):
        prefix = "kms:encryptioncontext:"
        if key.lower().startswith(prefix):
            return _MESH_KMS_CONTEXT.get().get(key.lower()[len(prefix):])
        return resolve(key, ctx)
    return wrapped


_mesh_iam_actions.extract_resource_arn = _mesh_keep_kms_context
_iam_evaluator._resolve_condition_key = _mesh_encryption_context(_iam_evaluator._resolve_condition_key)

# mesh: AWS names a schedule by its group: the resource of CreateSchedule
# (GetSchedule, ...) is arn:aws:scheduler:<region>:<account>:schedule/<group>/<name>,
# the group being the request's (GroupName in the body, groupName in the
# query; `default` when absent). MiniStack always says `default`, so under
# AUTH=true a relay allowed only its domain's group was denied. Give the
# request's group, as AWS does.
_mesh_resource_arn_without_group = _mesh_iam_actions.extract_resource_arn


def _mesh_schedule_group(service, method, path, headers, body, query_params, *args, **kwargs):
    arn = _mesh_resource_arn_without_group(service, method, path, headers, body, query_params, *args, **kwargs)
    if service != "scheduler" or ":schedule/default/" not in arn:
        return arn
    try:
        group = json.loads(body or b"{}").get("GroupName")
    except (ValueError, AttributeError):
        group = None
    group = group or (query_params or {}).get("groupName")
    if isinstance(group, list):
        group = group[0] if group else None
    return arn.replace(":schedule/default/", f":schedule/{group}/", 1) if group else arn


_mesh_iam_actions.extract_resource_arn = _mesh_schedule_group

# mesh: every AWS SDK call goes over TLS on AWS, and the templates' queue and
# bucket policies deny any request without it (`aws:SecureTransport` false).
# The harness talks plain HTTP on loopback (no certificate to trust), so under
# AUTH=true MiniStack would deny every call, SNS's deliveries included (they
# run outside a request, with the context's default). A loopback caller counts
# as TLS here; that a plain-HTTP caller is refused is shown by the static
# check (`mesh infra check`), not by running.
import contextvars  # noqa: E402
import ipaddress  # noqa: E402


_iam_evaluator._request_origin = contextvars.ContextVar("ministack_request_origin", default=("127.0.0.1", True))
_pin_request_origin = _app.pin_request_origin


def _mesh_pin_request_origin(source_ip, secure_transport):
    try:
        loopback = ipaddress.ip_address(source_ip).is_loopback
    except ValueError:
        loopback = False
    _pin_request_origin(source_ip, secure_transport or loopback)


_app.pin_request_origin = _mesh_pin_request_origin


# mesh: IAM has no action for a batch call of SNS or SQS: AWS authorizes
# PublishBatch with sns:Publish and SQS's *Batch calls with their single
# action's permission (the Service Authorization Reference lists no other).
# MiniStack asks for `sns:PublishBatch` and so on, which no policy grants;
# ask for what AWS asks for.
from ministack.core import iam_actions as _iam_actions  # noqa: E402

_MESH_BATCH_ACTIONS = {
    "sns:PublishBatch": "sns:Publish",
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
_extract_iam_action = _iam_actions.extract_iam_action


def _mesh_extract_iam_action(*args, **kwargs):
    action = _extract_iam_action(*args, **kwargs)
    return _MESH_BATCH_ACTIONS.get(action, action)


_iam_actions.extract_iam_action = _mesh_extract_iam_action


# mesh: with MESH_IAM_AUDIT=<file>, every call a role's session makes is
# written there as one JSON line (principal, action, resource, allowed), so a
# run shows which grants its functions used and which they lacked.
_MESH_IAM_AUDIT = os.environ.get("MESH_IAM_AUDIT")
if _MESH_IAM_AUDIT:
    _enforce = _iam_evaluator.enforce
    _audit_lock = threading.Lock()

    def _mesh_audited_enforce(access_key_id, iam_action, service, region, resource_arn="*", service_context=None):
        denied = _enforce(access_key_id, iam_action, service, region, resource_arn, service_context)
        principal = _iam_evaluator.caller_arn()
        if ":assumed-role/" in principal:
            line = json.dumps({"principal": principal, "action": iam_action, "resource": resource_arn,
                               "allowed": denied is None})
            with _audit_lock, open(_MESH_IAM_AUDIT, "a", encoding="utf-8") as audit:
                audit.write(line + "\n")
        return denied

    _iam_evaluator.enforce = _mesh_audited_enforce



# mesh: MiniStack's CloudFormation drops a topic's KmsMasterKeyId and a
# stream's StreamEncryption (the stream says EncryptionType NONE). AWS applies
# both at creation (CreateTopic attributes, StartStreamEncryption); do the
# same, so the harness can check every port is encrypted as its template says.
def _mesh_topic_encryption(create):
    def wrapped(logical_id, props, stack_name):
        arn, attrs = create(logical_id, props, stack_name)
        if props.get("KmsMasterKeyId"):
            _provisioners._sns._topics[arn]["attributes"]["KmsMasterKeyId"] = props["KmsMasterKeyId"]
        return arn, attrs
    return wrapped


def _mesh_stream_encryption(create):
    def wrapped(logical_id, props, stack_name):
        name, attrs = create(logical_id, props, stack_name)
        encryption = props.get("StreamEncryption") or {}
        if encryption.get("EncryptionType") == "KMS":
            stream = _provisioners._kinesis._streams[name]
            stream["EncryptionType"] = "KMS"
            stream["KeyId"] = encryption.get("KeyId")
        return name, attrs
    return wrapped


# mesh: the same for a table's SSESpecification, PointInTimeRecoverySpecification
# and TimeToLiveSpecification, which MiniStack's CloudFormation ignores at
# creation (its DynamoDB API honours all three).
def _mesh_table_settings(create):
    def wrapped(logical_id, props, stack_name):
        name, attrs = create(logical_id, props, stack_name)
        ddb = _provisioners._dynamodb
        sse = props.get("SSESpecification") or {}
        if sse:
            ddb._tables[name]["SSEDescription"] = ddb._sse_description_from_spec({
                "Enabled": _mesh_bool(sse.get("SSEEnabled")),
                "SSEType": sse.get("SSEType"),
                "KMSMasterKeyId": sse.get("KMSMasterKeyId"),
            })
        pitr = props.get("PointInTimeRecoverySpecification") or {}
        if _mesh_bool(pitr.get("PointInTimeRecoveryEnabled")):
            ddb._pitr_settings[name] = True
        ttl = props.get("TimeToLiveSpecification") or {}
        if ttl.get("AttributeName"):
            ddb._update_ttl({"TableName": name, "TimeToLiveSpecification": {
                "AttributeName": ttl["AttributeName"], "Enabled": _mesh_bool(ttl.get("Enabled")),
            }})
        return name, attrs
    return wrapped


for _type, _wrap in (
    ("AWS::SNS::Topic", _mesh_topic_encryption),
    ("AWS::Kinesis::Stream", _mesh_stream_encryption),
    ("AWS::DynamoDB::Table", _mesh_table_settings),
):
    _provisioners._RESOURCE_HANDLERS[_type]["create"] = _wrap(_provisioners._RESOURCE_HANDLERS[_type]["create"])

if __name__ == "__main__":
    _mesh_watch_parent()
    _app.main()
