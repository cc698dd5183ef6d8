"""Local test websites for the browser agent (its demo, `voxroom bench browser`, the tests)."""

from voxroom.browser.sites.server import DemoSites, create_sites_app

__all__ = ["DemoSites", "create_sites_app"]
