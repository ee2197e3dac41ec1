#!/usr/bin/env python3
"""Drives the dashboard in headless Chromium (Debian's chromium + chromium-driver, through selenium).

    dashboard_browser.py GATEWAY_URL ARTEFACT_DIR MOVIE_ID HOSTILE_MOVIE_ID

The page is opened through the gateway; a reservation for MOVIE_ID is made through the API (not the page) and the
movie's row must show it within 2 s, measured from the API's answer. Also checked: a movie whose description is
markup shows it as text and runs nothing; a form shows the API's JSON error; the page at phone width. Screenshots go
to ARTEFACT_DIR (their paths are printed). Exit status 0 only when every check passed.
"""
import json
import os
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

DEADLINE_S = 2.0


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def wait_for(description, condition, timeout):
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        value = condition()
        if value:
            return value, time.monotonic() - started
        time.sleep(0.02)
    fail(f"{description}: not within {timeout} s")


def main():
    gateway, artefacts, movie_id, hostile_id = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    os.makedirs(artefacts, exist_ok=True)
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(gateway + "/")
        row_selector = f'#movies tr[data-movie-id="{movie_id}"]'
        wait_for("the movie's row on the page", lambda: driver.find_elements(By.CSS_SELECTOR, row_selector), 10)
        wait_for("the live badge", lambda: driver.find_element(By.ID, "connection").text == "live", 10)
        before = driver.find_element(By.CSS_SELECTOR, row_selector).text
        print(f"row before: {before!r}", flush=True)

        request = urllib.request.Request(
            gateway + "/reservations", data=json.dumps({"movieId": movie_id}).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            reservation = json.load(response)
        answered = time.monotonic()
        rsv_id = reservation["rsvId"]
        print(f"reservation {rsv_id} answered {response.status}", flush=True)

        def row_shows_reservation():
            # Read in one script: the page replaces a row when it changes, so an element handle would go stale.
            state = driver.execute_script(
                "const row = document.querySelector(arguments[0]);"
                "return row ? [row.textContent, row.dataset.rsvStatus] : null;", row_selector)
            return state[0] if state and f"#{rsv_id}" in state[0] and state[1] == "reserved" else None

        row_text, _ = wait_for("the row showing the reservation", row_shows_reservation, 10)
        elapsed = time.monotonic() - answered
        print(f"row updated {elapsed * 1000:.0f} ms after the API answered: {row_text!r}", flush=True)
        if elapsed > DEADLINE_S:
            fail(f"the row changed after {elapsed:.2f} s, over {DEADLINE_S} s")

        # Markup in data is text: shown as written, nothing executed.
        # Read in one script call: a live update may replace the row between a find and a read (a stale element).
        hostile, _ = wait_for("the hostile movie's row", lambda: driver.execute_script(
            "const cell = document.querySelector(arguments[0]); return cell ? cell.textContent : null",
            f'#movies tr[data-movie-id="{hostile_id}"] td.desc'), 10)
        if "<script>" not in hostile or "<img" not in hostile:
            fail(f"the hostile description is not shown as text: {hostile!r}")
        if driver.execute_script("return window.__pwned === undefined && document.querySelectorAll('#movies img, #movies script').length === 0") is not True:
            fail("markup from a movie description was interpreted")

        # A form calls the API through the gateway and shows its JSON error, naming the field.
        form = driver.find_element(By.ID, "reserve")
        field = form.find_element(By.NAME, "movieId")
        field.clear()
        field.send_keys("one")
        form.find_element(By.TAG_NAME, "button").click()
        shown, _ = wait_for("the API's error under the forms",
                            lambda: (lambda t: t if t.startswith("400") else None)(driver.find_element(By.ID, "result").text), 5)
        print(f"form error shown: {shown!r}", flush=True)
        if "movieId" not in shown:
            fail(f"the error does not name the field: {shown!r}")

        # Every service's readiness shows in the strip.
        strip, _ = wait_for("the health strip", lambda: (lambda t: t if t.count("ready") >= 5 else None)(
            driver.find_element(By.ID, "health-list").text), 10)
        print(f"health strip: {strip!r}", flush=True)

        # The latest events on the topic, with their trace (correlation) ids.
        feed = driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")
        if not any("ReservationConfirmed" in row.text for row in feed):
            fail("the event feed does not show ReservationConfirmed")

        wide = os.path.join(artefacts, "dashboard-1280.png")
        driver.save_screenshot(wide)
        driver.set_window_size(390, 1400)
        # Until the page has laid itself out at the new width (the resize is asynchronous).
        wait_for("the window at 390 px", lambda: driver.execute_script("return window.innerWidth") <= 390, 5)
        scroll_width = driver.execute_script("return document.documentElement.scrollWidth")
        narrow = os.path.join(artefacts, "dashboard-390.png")
        driver.save_screenshot(narrow)
        print(f"screenshots: {wide} {narrow}", flush=True)
        if scroll_width > 400:
            fail(f"at 390 px the page is {scroll_width} px wide (it scrolls sideways)")
        errors = [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"
                  and "reservations" not in entry.get("message", "")]
        if errors:
            fail(f"console errors: {errors}")
        print(f"PASS row-update-ms={elapsed * 1000:.0f}", flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
