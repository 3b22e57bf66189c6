"""The review page in a real browser: headless Chromium driven by Selenium, from disk (file://)."""

import csv
import io
import json

import pytest

from animalsnd.review import browser, build_review

from test_review import predictions, recording

why = browser.missing()
pytestmark = pytest.mark.skipif(why is not None, reason=f"no browser to drive: {why}")


def _review(root):
    """A review folder of 18 cards (bird, frog, dog) in ``root``; its run id, the key of its
    decisions in the browser's storage, comes from the predictions' bytes, so every ``root``
    gives a page whose decisions start empty, without clearing the storage."""
    recording(root / "a.wav", seconds=120)
    rows = [(str(root / "a.wav"), s, s + 4, ("bird", "frog", "dog")[s // 4 % 3], round(0.3 + (s % 17) / 25, 3))
            for s in range(0, 116, 4)]
    pred = predictions(root / "p.csv", rows)
    build_review(pred, root / "r", top=3, random=3)
    return root / "r"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    return _review(tmp_path_factory.mktemp("page"))


@pytest.fixture(scope="module")
def driver():
    d = browser.headless()
    yield d
    d.quit()


def visible(d):
    return d.execute_script("return Array.from(document.querySelectorAll('.card')).filter(c => !c.hidden).length")


def exported(d) -> list[dict]:
    return list(csv.DictReader(io.StringIO(d.execute_script("return window.review.csv()"))))


def reloaded(d, page, *, timeout_s: float = 10.0) -> list[dict]:
    """The export after reloading ``page`` (a review folder's ``index.html``). Chrome hands a
    file:// page's localStorage writes to the next page asynchronously, so an instant reload is
    tried again until some decision is there; a page that lost them still fails its test after
    ``timeout_s``."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        d.refresh()
        browser.open_page(d, page)
        rows = exported(d)
        if any(r["decision"] for r in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def keys(d, *ks):
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(d)
    for k in ks:
        chain.send_keys(k)
    chain.perform()


def test_loads_without_console_errors(driver, page):
    ms = browser.open_page(driver, page / "index.html")
    assert browser.severe_logs(driver) == []
    m = json.loads((page / "review.json").read_text())
    assert driver.execute_script("return document.querySelectorAll('.card').length") == len(m["cards"]) == 18
    assert ms < 2000
    assert driver.find_element("id", "progress").text.startswith("reviewed 0 of 18")


def test_filters(driver, page):
    from selenium.webdriver.support.ui import Select

    browser.open_page(driver, page / "index.html")
    Select(driver.find_element("id", "f-class")).select_by_value("frog")
    assert visible(driver) == 6
    labels = driver.execute_script(
        "return Array.from(document.querySelectorAll('.card')).filter(c => !c.hidden).map(c => c.querySelector('.lab').textContent)")
    assert set(labels) == {"frog"}
    lo = driver.find_element("id", "f-min")
    lo.send_keys("0.8")
    m = json.loads((page / "review.json").read_text())
    want = sum(c["label"] == "frog" and c["confidence"] >= 0.8 for c in m["cards"])
    assert 0 < visible(driver) == want < 6
    lo.clear()
    Select(driver.find_element("id", "f-class")).select_by_value("")
    Select(driver.find_element("id", "f-sample")).select_by_value("random")
    assert visible(driver) == 9
    Select(driver.find_element("id", "f-sort")).select_by_value("conf-asc")
    confs = driver.execute_script(
        "return Array.from(document.querySelectorAll('.card')).filter(c => !c.hidden).map(c => +c.querySelector('.conf').textContent)")
    assert confs == sorted(confs) and len(confs) == 9


def test_keyboard_decisions_reach_the_export_and_survive_a_reload(driver, tmp_path):
    # a page of its own: a storage cleared by an earlier page can reach Chrome's store after this
    # page's writes (a file:// page's storage is written asynchronously), and undo them
    page = _review(tmp_path)
    browser.open_page(driver, page / "index.html")
    first = exported(driver)
    assert all(r["decision"] == "" for r in first) and len(first) == 18
    keys(driver, "a", "r", "c", "2")  # accept the first card, reject the second, relabel the third as classes[1]
    rows = exported(driver)
    assert [(r["decision"], r["corrected_label"]) for r in rows[:3]] == [("accepted", ""), ("rejected", ""),
                                                                         ("corrected", "dog")]
    assert rows[0]["run"] == json.loads((page / "review.json").read_text())["run"]
    assert driver.find_element("id", "progress").text.startswith("reviewed 3 of 18 (accepted 1, rejected 1, relabelled 1)")
    assert driver.execute_script("return document.getElementById('export-csv').value") == \
        driver.execute_script("return window.review.csv()")
    assert [r["decision"] for r in reloaded(driver, page / "index.html")[:4]] == ["accepted", "rejected", "corrected", ""]
    keys(driver, "j", "u")  # after a reload the first card is current: undo the second one's decision
    assert [r["decision"] for r in exported(driver)[:3]] == ["accepted", "", "corrected"]
    assert browser.severe_logs(driver) == []


def test_load_csv_takes_this_runs_rows_only(driver, page):
    browser.open_page(driver, page / "index.html")
    driver.execute_script("localStorage.clear()")
    driver.refresh()
    browser.open_page(driver, page / "index.html")
    rows = exported(driver)
    for r in rows:  # only the decisions below, whatever an earlier test left in this browser's storage
        r.update(decision="", corrected_label="")
    rows[4]["decision"] = "rejected"
    rows[5].update(decision="corrected", corrected_label="frog")
    rows[6].update(decision="accepted", run="0123456789ab")  # another review run: ignored
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    driver.execute_script("window.review.load(arguments[0], 'old.csv')", buf.getvalue())
    after = exported(driver)
    assert [(r["decision"], r["corrected_label"]) for r in after[4:7]] == [("rejected", ""), ("corrected", "frog"),
                                                                          ("", "")]
    assert driver.find_element("id", "saved").text == \
        "loaded 2 decision(s) from old.csv; 1 row(s) of another review run ignored"


def test_play_button_plays_the_clip(driver, page):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.open_page(driver, page / "index.html")
    driver.find_element("css selector", ".card [data-act=play]").click()
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(
        "const p = document.getElementById('player'); return !p.paused && p.currentTime > 0.2"))
    src = driver.execute_script("return document.getElementById('player').src")
    assert src.endswith(".flac") and "/clips/" in src
    assert driver.execute_script("return document.querySelector('.card .head').style.display") == "block"
    second = driver.find_elements("css selector", ".card .spec")[1]
    second.click()  # the middle of the spectrogram: play from the middle of the clip
    m = json.loads((page / "review.json").read_text())
    c = m["cards"][1]
    half = (c["clip_end_s"] - c["clip_start_s"]) / 2
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(
        "const p = document.getElementById('player'); return p.src.includes(arguments[0]) && p.currentTime > 0",
        c["id"]))
    t = driver.execute_script("return document.getElementById('player').currentTime")
    assert half - 0.1 < t < half + 1.0
    assert browser.severe_logs(driver) == []


def test_accept_on_an_unknown_card_asks_for_its_class(driver, tmp_path):
    recording(tmp_path / "u.wav", seconds=20)
    pred = predictions(tmp_path / "p.csv", [(str(tmp_path / "u.wav"), 5, 10, "unknown", 0.4),
                                            (str(tmp_path / "u.wav"), 10, 15, "frog", 0.9)])
    build_review(pred, tmp_path / "r", classes=["frog", "dog"])
    browser.open_page(driver, tmp_path / "r" / "index.html")  # a run of its own: its decisions start empty
    assert not any(r["decision"] for r in exported(driver))
    driver.find_elements("css selector", ".card")[1].click()  # class order: frog, then unknown
    keys(driver, "a")
    assert driver.find_elements("css selector", ".chooser") and exported(driver)[1]["decision"] == ""
    keys(driver, "1")  # classes: dog, frog
    assert (exported(driver)[1]["decision"], exported(driver)[1]["corrected_label"]) == ("corrected", "dog")
