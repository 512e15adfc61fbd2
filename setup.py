"""Package metadata comes from settings.ini (nbdev 2 layout); no pkg_resources needed.

The core requirements are `requirements`; every `<name>_requirements` key is the extra `[name]`, except
`dev_requirements`: [all] is notebooks + open3d + ray, and [dev] is [all] plus the test and build tools."""
from configparser import ConfigParser
from pathlib import Path
import setuptools

here = Path(__file__).resolve().parent
cfg = ConfigParser(delimiters=['='])
if not cfg.read(here/'settings.ini', encoding='utf-8'):
    raise SystemExit(f'settings.ini not found beside setup.py in {here}: it holds the package metadata (MANIFEST.in ships it in the sdist)')
cfg = cfg['DEFAULT']

def _reqs(key):
    "Space-separated requirement list from settings.ini."
    return cfg.get(key, '').split()

extras = {k[:-len('_requirements')]: _reqs(k) for k in cfg if k.endswith('_requirements') and k != 'dev_requirements'}
extras['all'] = sorted({r for name in ['notebooks', 'open3d', 'ray'] for r in extras[name]})
extras['dev'] = extras['all'] + _reqs('dev_requirements')

licenses = {'apache2': 'Apache-2.0'}   # settings.ini's nbdev name -> SPDX licence expression (PEP 639)
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
status = {s.split(' - ')[0]: s for s in statuses}[cfg['status']]   # status = 3 means '3 - Alpha'
min_python = cfg['min_python']
py_versions = '3.10 3.11 3.12 3.13'.split()
git_url, docs = cfg['git_url'], cfg['doc_host'] + cfg['doc_baseurl']

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=(here/'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    author=cfg['author'],
    author_email=cfg['author_email'],
    url=git_url,
    project_urls={'Documentation': docs, 'Source': git_url, 'Issues': git_url + '/issues'},
    license_expression=licenses[cfg['license'].lower()],
    license_files=['LICENSE'],
    classifiers=[
        'Development Status :: ' + status,
        'Intended Audience :: ' + cfg['audience'].title(),
        'Natural Language :: ' + cfg['language'].title(),
    ] + ['Programming Language :: Python :: ' + v for v in py_versions[py_versions.index(min_python):]],
    keywords=cfg['keywords'],
    packages=setuptools.find_packages(include=[cfg['lib_name'], cfg['lib_name'] + '.*']),
    include_package_data=True,
    package_data={cfg['lib_name']: ['assets/*']},
    install_requires=_reqs('requirements'),
    extras_require=extras,
    python_requires='>=' + min_python,
    zip_safe=False,
    entry_points={
        'console_scripts': cfg.get('console_scripts', '').split(),
        'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"],
    },
)
