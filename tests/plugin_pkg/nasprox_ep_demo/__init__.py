"""Example nasprox plug-in package (test fixture); its proxies are in ``proxies.py``."""
