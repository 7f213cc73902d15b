"""Crash points (a test harness of the emulator, not an AWS rule): the k-th
successful write is answered and then every later request waits at the door
until released; or the k-th write takes effect and its answer is lost."""

import threading
import time

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

ACCOUNT = "161616161616"


@pytest.fixture
def crash(emu):
    yield lambda **body: emu._call("POST", "/_xapi/crashpoint", body)
    emu._call("POST", "/_xapi/crashpoint", {"after_write": 0})


def test_writes_are_counted_reads_and_failures_are_not(emu, crash):
    apigw = emu.client("apigateway", ACCOUNT)
    crash(after_write=0)
    apigw.get_rest_apis()
    apigw.create_rest_api(name="counted")
    with pytest.raises(ClientError):
        apigw.delete_rest_api(restApiId="nosuchapi1")
    state = emu._call("GET", "/_xapi/crashpoint")
    assert state["writes"] == ["apigateway:CreateRestApi"]
    assert not state["frozen"]


def test_freeze_after_the_kth_write_holds_later_requests(emu, crash):
    apigw = emu.client("apigateway", ACCOUNT)
    apigw.get_rest_apis()
    crash(after_write=2, mode="freeze")
    apigw.create_rest_api(name="first")
    second = apigw.create_rest_api(name="second")  # answered: the freeze comes after it
    assert second["id"]
    assert emu._call("GET", "/_xapi/crashpoint")["frozen"]
    done = threading.Event()
    threading.Thread(target=lambda: (apigw.get_rest_apis(), done.set()), daemon=True).start()
    time.sleep(0.5)
    assert not done.is_set(), "a request passed the door while frozen"
    crash(release=True)
    assert done.wait(5)


def test_drop_loses_the_kth_answer_after_aws_acted(emu, crash):
    apigw = emu.client("apigateway", ACCOUNT)
    apigw.get_rest_apis()
    crash(after_write=1, mode="drop")
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        apigw.create_rest_api(name="acted-then-dropped")
    names = [a["name"] for a in apigw.get_rest_apis()["items"]]
    assert "acted-then-dropped" in names
    apigw.create_rest_api(name="after")  # only the k-th is dropped
