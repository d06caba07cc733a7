"""The built documentation site, opened in headless Chromium (run by ``make docs-test``).

These tests read ``docs/_build/html`` as ``make docs`` leaves it: the index, the example
gallery and two executed examples load with every image decoded, and the API page of
:func:`fieldfit.fit` lists every parameter of its signature.
"""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import pytest

import fieldfit

pytestmark = pytest.mark.docs

SITE = Path(__file__).resolve().parents[1] / "docs" / "_build" / "html"
EXAMPLE_PAGES = ["auto_examples/plot_meuse_kriging.html",
                 "auto_examples/plot_posterior_sampling.html"]


def chromium_paths() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.fail("headless Chromium and chromedriver are needed (Debian's chromium and "
                    "chromium-driver: `make docs-test` installs them)")
    return browser, driver


@pytest.fixture(scope="module")
def browser():
    if not (SITE / "index.html").exists():
        pytest.fail(f"no built site at {SITE}: run `make docs` first")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1600"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def open_page(driver, relative: str) -> None:
    path = SITE / relative
    assert path.exists(), f"{relative} is not in the built site"
    driver.get(path.as_uri())
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
        and d.execute_script("return Array.from(document.images).every(i => i.complete)"))


def broken_images(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.images).filter(i => !(i.naturalWidth > 0))"
        ".map(i => i.getAttribute('src'))")


@pytest.mark.parametrize("page", ["index.html", "auto_examples/index.html", *EXAMPLE_PAGES])
def test_the_page_loads_with_every_image(browser, page):
    open_page(browser, page)
    assert browser.title, f"{page} has no title"
    main = browser.execute_script("return document.querySelector('main, article, [role=main]')"
                                  " ?.innerText || ''")
    assert len(main) > 200, f"{page} has almost no content"
    assert broken_images(browser) == [], f"images on {page} did not load"


def test_the_gallery_lists_executed_examples_with_their_figures(browser):
    open_page(browser, "auto_examples/index.html")
    thumbnails = browser.execute_script(
        "return Array.from(document.querySelectorAll('.sphx-glr-thumbcontainer')).length")
    assert thumbnails >= 8
    for page in EXAMPLE_PAGES:
        open_page(browser, page)
        figures = browser.execute_script(
            "return Array.from(document.querySelectorAll('img.sphx-glr-single-img, "
            "img.sphx-glr-multi-img')).map(i => i.naturalWidth)")
        assert figures and min(figures) > 0, f"{page} shows no executed figure"


def test_the_fit_api_page_lists_its_parameters(browser):
    open_page(browser, "api/generated/fieldfit.fit.html")
    text = browser.execute_script("return document.querySelector('dl.py.function').innerText")
    assert "Parameters" in text and "Returns" in text
    section = text.split("Parameters", 1)[1].split("Returns", 1)[0]
    parameters = [name for name, p in inspect.signature(fieldfit.fit).parameters.items()
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                  and not name.startswith("_")]
    assert len(parameters) >= 10
    missing = [name for name in parameters if name not in section]
    assert not missing, f"the fit page does not describe {missing}"


def test_the_maths_is_typeset_by_the_bundled_mathjax(browser):
    open_page(browser, "api/generated/fieldfit.Matern.html")
    from selenium.webdriver.support.ui import WebDriverWait

    formulas = browser.execute_script("return document.querySelectorAll('.math').length")
    assert formulas > 0, "the Matern page has no formula"
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return document.querySelectorAll('mjx-container').length")
        >= formulas)
    widths = browser.execute_script(
        "return Array.from(document.querySelectorAll('mjx-container'))"
        ".map(e => e.getBoundingClientRect().width)")
    assert min(widths) > 0
