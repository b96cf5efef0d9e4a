"""The chat page at / in a real browser: Debian's chromium, headless, driven by Selenium through
chromium-driver. The page is opened on a `bitnet serve` started here with an API key, the key is
entered in the settings, a message is sent and its streamed answer awaited; then a long answer is
stopped mid-stream. Screenshots go to $BITNET_ARTIFACTS/webui-*.png."""

import json
import os
import re
import shutil
import time

import pytest

import serve_util

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
API_KEY = "sk-webui-test"
ALIAS = "bitnet-webui-test"


def _skip_reason():
    reason = serve_util.missing_binary_reason()
    if reason:
        return reason
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")):
        return f"chromium not found at {CHROMIUM} (Debian package 'chromium'; scripts/install-deps.sh)"
    if not os.access(CHROMEDRIVER, os.X_OK):
        return f"chromedriver not found at {CHROMEDRIVER} (Debian package 'chromium-driver')"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def ui_server():
    # One slot of the model's whole 4096 positions: room for the long answer that the stop test
    # interrupts (4000 tokens: several seconds of generation on 2 cores). Even when the server
    # finishes first and the whole answer sits in the browser's buffer, Stop must end the
    # answer as "stopped" (CI once saw a page that redrew per token fall 36 s behind the server
    # and report "max tokens reached" after the click).
    s = serve_util.Replica("-np", 1, "-c", 4096, "--alias", ALIAS, api_key=API_KEY)
    try:
        yield s
    finally:
        code = s.stop()
        assert code == 0, f"bitnet serve exited with {code}:\n{s.output()[-4000:]}"


@pytest.fixture(scope="module")
def browser():
    os.environ.setdefault("SE_AVOID_STATS", "true")  # Selenium Manager stays offline and quiet
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1100,820", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update"):
        options.add_argument(arg)
    service = Service(executable_path=CHROMEDRIVER, log_output=os.devnull)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver, name):
    serve_util.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = serve_util.ARTIFACTS / f"webui-{name}.png"
    assert driver.save_screenshot(str(path)), path
    return path


def text_of(element):
    """The element's exact text (textContent: no whitespace normalization, unlike .text)."""
    return element.get_attribute("textContent")


def set_field(driver, element_id, value):
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(str(value))
    field.send_keys(Keys.TAB)  # blur: the page stores settings on "change"


def assistant_bubbles(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#messages .message.assistant")


def open_page(driver, server):
    driver.get(server.url + "/")
    driver.execute_script("localStorage.clear();")  # settings of an earlier test
    driver.get(server.url + "/")
    wait = WebDriverWait(driver, 20)
    model = driver.find_element(By.ID, "model")
    # Without the key, /v1/models answers 401 and the page says so.
    wait.until(lambda d: "API key" in model.text)
    driver.find_element(By.ID, "settings-toggle").click()
    wait.until(lambda d: d.find_element(By.ID, "api-key").is_displayed())
    set_field(driver, "api-key", API_KEY)
    wait.until(lambda d: model.text == ALIAS)
    return wait


def send(driver, text):
    prompt = driver.find_element(By.ID, "prompt")
    prompt.click()
    prompt.send_keys(text)
    driver.find_element(By.ID, "send").click()


def test_chat_streams_an_answer(browser, ui_server):
    wait = open_page(browser, ui_server)
    set_field(browser, "temperature", 0)
    set_field(browser, "max-tokens", 24)
    browser.find_element(By.ID, "settings-toggle").click()  # close the settings again
    send(browser, "Hello! Who are you?")

    wait.until(lambda d: len(assistant_bubbles(d)) == 1)
    bubble = assistant_bubbles(browser)[0]
    wait.until(lambda d: text_of(bubble) and bubble.get_attribute("data-streaming") is None)

    users = browser.find_elements(By.CSS_SELECTOR, "#messages .message.user")
    assert [text_of(u) for u in users] == ["Hello! Who are you?"]
    assert "error" not in bubble.get_attribute("class").split(), text_of(bubble)
    speed = browser.find_element(By.ID, "speed").text
    assert re.search(r"\d+(\.\d+)? tok/s", speed), speed
    tokens = int(re.search(r"(\d+) tok(?!/)", speed).group(1))
    assert 1 < tokens <= 24, speed
    assert browser.find_element(By.ID, "send").is_enabled()
    assert not browser.find_element(By.ID, "stop").is_enabled()

    # The streamed answer reassembled in the page is the server's greedy answer, byte for byte.
    status, _, body = serve_util.http(
        "POST", ui_server.url + "/v1/chat/completions", headers=ui_server.headers,
        body={"model": ALIAS, "messages": [{"role": "user", "content": "Hello! Who are you?"}],
              "temperature": 0, "max_tokens": 24})
    assert status == 200, body
    reply = json.loads(body)
    assert text_of(bubble) == reply["choices"][0]["message"]["content"]
    assert reply["usage"]["completion_tokens"] == tokens
    screenshot(browser, "chat")


def test_stop_keeps_the_partial_answer(browser, ui_server):
    wait = open_page(browser, ui_server)
    set_field(browser, "temperature", 0)
    set_field(browser, "max-tokens", 4000)  # seconds of generation: long enough to stop
    browser.find_element(By.ID, "settings-toggle").click()
    send(browser, "Tell me a very long story.")

    wait.until(lambda d: len(assistant_bubbles(d)) == 1)
    bubble = assistant_bubbles(browser)[0]
    stop = browser.find_element(By.ID, "stop")
    # Some tokens have arrived and more are coming (one snapshot: streaming, text, Stop enabled).
    wait.until(lambda d: bubble.get_attribute("data-streaming") == "true"
               and len(text_of(bubble)) > 20 and stop.is_enabled())
    screenshot(browser, "streaming")
    stop.click()

    wait.until(lambda d: bubble.get_attribute("data-streaming") is None)
    partial = text_of(bubble)
    assert partial, "the partial answer was dropped"
    assert "error" not in bubble.get_attribute("class").split(), partial
    speed = browser.find_element(By.ID, "speed").text
    assert "stopped" in speed, speed
    tokens = int(re.search(r"(\d+) tok(?!/)", speed).group(1))
    assert tokens < 4000, speed
    assert browser.find_element(By.ID, "send").is_enabled() and not stop.is_enabled()
    time.sleep(0.5)
    assert text_of(bubble) == partial, "text was appended after stop"

    # The server noticed the disconnect and freed the slot.
    deadline = time.monotonic() + 10
    while True:
        status, _, body = ui_server.get("/slots")
        assert status == 200, body
        if not any(slot["is_processing"] for slot in json.loads(body)):
            break
        assert time.monotonic() < deadline, f"a slot is still busy after stop: {body!r}"
        time.sleep(0.1)
    screenshot(browser, "stopped")
